using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Compact.Distill;
using Compact.Report;
using Compact.Training;
using Compact.Util;

namespace Compact.Tests.Analysis;

public class ReportTests
{
    static void Png(string path, string title) =>
        Plots.Lines(path, title, "x", "y", [new Plots.Series("s", [0.0, 1, 2], [1.0, 0.5, 0.2])], 200, 120);

    /// <summary>A run folder as `compact distill` leaves it, with an evaluation and an analysis inside.</summary>
    static string FakeRun(TestUtil.TempDir dir)
    {
        var run = dir["runs/compact-1"];
        Directory.CreateDirectory(run);
        // Written with the types `compact distill` writes them with, so a schema change reaches this test.
        new DistillConfig
        {
            Model = "models/qwen", Data = "mt.jsonl", Out = run, Method = DistillMethod.Compact, MccWeight = 0.1,
            Train = new TrainConfig { MaxSteps = 3, Epochs = 5, Lr = 1e-3 }, Lora = new LoraConfig { Rank = 16 },
        }.Save(run);
        new RunSummary { Verb = "distill compact", Steps = 3, FinalLoss = 1.25, Seconds = 75.0, TokensPerSecond = 900.0, Method = "compact", Output = run }.Write(run);
        // α per step: a 0.6 → 0.2 → 0.4 (mean 0.4), b 0.4 → 0.8 → 0.6 (mean 0.6).
        double[] a = [0.6, 0.2, 0.4];
        File.WriteAllLines(Path.Combine(run, "metrics.jsonl"), Enumerable.Range(0, 3).Select(i =>
        {
            var item = new QuestionRecord
            {
                Id = $"q{i}", Teachers = ["a", "b"], Alpha = [a[i], 1 - a[i]], SPpl = [2.0, 3.0], SCons = [0.5, 0.5], SMi = [0.01, 0.03],
                ZPpl = [-1.0, 1.0], ZCons = [0.0, 0.0], ZMi = [-1.0, 1.0], Fused = [0.0, 0.0],
            };
            return new StepRecord
            {
                Step = i + 1, Loss = 2.0 - 0.25 * i - (i == 2 ? 0.25 : 0), Lr = 1e-3, GradNorm = 0.5, TokensPerSecond = 900.0,
                Extra = StepRecord.Parts([KeyValuePair.Create("loss_sft", 1.0)]),
                AlphaMean = QuestionRecord.MeanAlpha([item]), Items = [item],
            }.ToLine();
        }));
        Png(Path.Combine(run, "loss.png"), "loss");
        Png(Path.Combine(run, "teacher_weights.png"), "weights");
        Directory.CreateDirectory(Path.Combine(run, "eval"));
        File.WriteAllText(Path.Combine(run, "eval/results.md"),
            "# Results\n\n| benchmark | accuracy |\n|---|---:|\n| gsm8k | 41.5 ± 1.2 |\n\nSee [the paper](https://arxiv.org/abs/2601.13992). <script>alert(1)</script>\n\n![acc](acc.png)\n");
        Png(Path.Combine(run, "eval/acc.png"), "acc");
        Directory.CreateDirectory(Path.Combine(run, "analysis"));
        File.WriteAllText(Path.Combine(run, "analysis/shift.json"), new JsonObject
        {
            ["pooling"] = "mean", ["components"] = 4, ["prompts"] = 8,
            ["tuned"] = new JsonArray(new JsonObject
            {
                ["name"] = "compact-1",
                ["layers"] = new JsonArray(new JsonObject { ["layer"] = 0, ["shift"] = 0.0, ["shift_rel"] = 0.0 }, new JsonObject { ["layer"] = 1, ["shift"] = 0.125, ["shift_rel"] = 0.5 }),
            }),
        }.ToJsonString());
        Png(Path.Combine(run, "analysis/shift.png"), "shift");
        return run;
    }

    [Fact]
    public void Html_has_every_section_embeds_the_images_and_loads_nothing_from_outside()
    {
        using var dir = new TestUtil.TempDir();
        var run = FakeRun(dir);
        var (htmlPath, mdPath) = RunReport.Write([run]);
        Assert.Equal(Path.Combine(run, "report.html"), htmlPath);
        var html = File.ReadAllText(htmlPath);
        foreach (var s in new[] { "Settings", "Outcome", "Curves", "Teacher weights", "Overview", "compact-1/eval", "compact-1/analysis", "PCA shift per layer" })
            Assert.Contains(s, html);
        // Four PNGs, all embedded: loss, teacher weights, the evaluation's image (from its markdown), shift.
        var srcs = Regex.Matches(html, "src=\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(4, srcs.Count);
        Assert.All(srcs, s => Assert.StartsWith("data:image/png;base64,", s));
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
        Assert.DoesNotContain("<script", html);                          // the markdown's HTML is escaped
        Assert.Contains("&lt;script&gt;", html);
        Assert.Contains("<td class=\"num\">41.5 ± 1.2</td>", html);
        // Mean α over the steps: a 0.4, b 0.6; first and last step; the scores' means.
        Assert.Matches(@"<td>a</td><td class=""num"">0\.4000</td><td class=""num"">0\.6000</td><td class=""num"">0\.4000</td><td class=""num"">2\.0000</td>", html);
        Assert.Contains("<td>b</td><td class=\"num\">0.6000</td>", html);
        // Settings that do not apply are left out: epochs (max_steps given), the MCC-KD weight.
        Assert.Contains("<dt>max_steps</dt>", html);
        Assert.DoesNotContain("<dt>epochs</dt>", html);
        Assert.DoesNotContain("<dt>mcc_weight</dt>", html);
        Assert.Contains("1:15", html);                                   // 75 s

        var md = File.ReadAllText(mdPath);
        Assert.Contains("![Training loss (loss.png)](loss.png)", md);
        Assert.Contains("(analysis/shift.png)", md);
        Assert.Contains("(eval/acc.png)", md);                            // re-pointed from the evaluation's folder
        Assert.Contains("| gsm8k | 41.5 ± 1.2 |", md);
        Assert.DoesNotContain("base64", md);
    }

    [Fact]
    public void Missing_pieces_leave_their_sections_out()
    {
        using var dir = new TestUtil.TempDir();
        var run = dir["bare"];
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, "metrics.jsonl"), "{\"step\":1,\"loss\":3.5}\n{\"step\":2,\"loss\":3.0}\n");
        var (htmlPath, _) = RunReport.Write([run], dir["out"], "Bare");
        var html = File.ReadAllText(htmlPath);
        Assert.StartsWith(dir["out"], htmlPath);
        Assert.Contains("3.5 → 3 (3)", html);
        foreach (var s in new[] { "Settings", "Curves", "Teacher weights", "<img" }) Assert.DoesNotContain(s, html);
        Assert.Throws<CompactException>(() => RunReport.Write([dir["out"]]));          // holds only the report itself
        Assert.Throws<CompactException>(() => RunReport.Write([dir["nowhere"]]));
    }

    [Fact]
    public void Evaluation_and_analysis_folders_are_accepted_directly_and_a_folder_of_runs_is_searched()
    {
        using var dir = new TestUtil.TempDir();
        var run = FakeRun(dir);
        var doc = RunReport.Build([Path.Combine(run, "eval"), Path.Combine(run, "analysis")]);
        Assert.Equal(["eval", "analysis"], doc.Sections.Select(s => s.Kind));
        Assert.Null(doc.Overview);
        var all = RunReport.Build([dir["runs"]]);
        Assert.Equal(["run", "eval", "analysis"], all.Sections.Select(s => s.Kind));
    }

    [Fact]
    public void Results_json_is_shown_as_tables()
    {
        var node = JsonNode.Parse("""{"model":"m","benchmarks":{"gsm8k":{"n":10,"accuracy":0.5},"svamp":{"n":5,"accuracy":0.8}},"items":[""" +
            string.Join(",", Enumerable.Range(0, 100).Select(i => $"{{\"id\":{i}}}")) + "]}")!;
        var blocks = RunReport.JsonBlocks(node, null);
        var kv = Assert.IsType<KeyValues>(blocks[0]);
        Assert.Equal([("model", "m")], kv.Items);
        var t = Assert.IsType<TableBlock>(blocks[1]);
        Assert.Equal(["", "n", "accuracy"], t.Headers);
        Assert.Equal(["svamp", "5", "0.8"], t.Rows[1]);
        Assert.Equal("items: 100 records (not shown).", Assert.IsType<Para>(blocks[2]).Text);
    }
}
