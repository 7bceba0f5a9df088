using System.Text.Json.Nodes;
using Compact.Cli;

namespace Compact.Tests.Demo;

/// <summary>`compact demo --quick --all` end to end: the real pipeline (pre-training, HTTP teachers, teach, every
/// distillation method, eval, learning curves, score validity, analyses, report) in miniature.</summary>
[Collection("Serial")]
public class DemoEndToEndTests
{
    [Fact]
    public void Quick_demo_runs_every_stage_and_reports_every_method()
    {
        using var dir = new TestUtil.TempDir();
        var log = new StringWriter();
        var err = new StringWriter();
        int code = CompactCli.Run(["demo", "--quick", "--all", "--out", dir.Path], log, err);
        Assert.True(code == 0, err.ToString() + log.ToString()[^Math.Min(4000, log.ToString().Length)..]);

        var results = JsonNode.Parse(File.ReadAllText(dir["demo_results.json"]))!;
        string[] methods = ["compact", "uniform", "mot", "mcc-kd", "single-concise", "single-verbose", "single-noisy", "single-shortcut",
            "compact-no-mi", "compact-no-cons", "compact-no-ppl"];
        string[] benches = ["in-distribution", "harder", "facts", "comparisons"];
        var acc = results["accuracy"]!.AsObject();
        Assert.Equal(methods.Order(), acc.Select(kv => kv.Key).Order());
        foreach (var (_, row) in acc)
            foreach (var b in benches)
            {
                Assert.InRange(row![b]!["mean"]!.GetValue<double>(), 0, 1);
                Assert.Equal(2, row[b]!["per_seed"]!.AsArray().Count);
            }
        foreach (var b in benches) Assert.InRange(results["base"]![b]!.GetValue<double>(), 0, 1);

        // Learning curves: every method but MoT (which trains branch by branch) has the base point and one per export.
        var curves = results["learning_curves"]!.AsObject();
        foreach (var m in methods.Where(m => m != "mot"))
        {
            var pts = curves[m]!.AsArray();
            Assert.Equal([0, 4, 8], pts.Select(p => p!["step"]!.GetValue<int>()));
            Assert.All(pts, p => Assert.InRange(p!["in_distribution"]!.GetValue<double>(), 0, 1));
        }

        // Paired differences: COMPACT minus every other method on every split, over both seeds.
        var paired = results["paired_differences"]!.AsArray();
        Assert.Equal((methods.Length - 1) * benches.Length, paired.Count);
        Assert.All(paired, p => Assert.Equal(2, p!["seeds"]!.GetValue<int>()));

        // The score-validity diagnostic: an AUC in [0, 1] for every score and flaw, mean α for every teacher.
        var validity = results["score_validity"]!;
        foreach (var flaw in new[] { "any_flaw", "hallucinated_step", "no_reasoning" })
            foreach (var score in new[] { "s_ppl", "s_cons", "s_mi", "alpha" })
                Assert.InRange(validity["auc"]![flaw]![score]!.GetValue<double>(), 0, 1);
        Assert.Equal(["concise", "noisy", "shortcut", "verbose"], validity["mean_alpha"]!.AsObject().Select(kv => kv.Key).Order());
        Assert.False(string.IsNullOrWhiteSpace(results["verdict"]!.GetValue<string>()));

        var md = File.ReadAllText(dir["report.md"]);
        foreach (var m in methods) Assert.Contains($"| {m} |", md);
        Assert.Contains("AUC s_ppl", md);
        var html = File.ReadAllText(dir["report.html"]);
        Assert.Contains("data:image/png;base64,", html);
        Assert.DoesNotContain("src=\"http", html);
        Assert.True(File.Exists(dir["teach/dataset.jsonl"]) && File.Exists(dir["teach/ground_truth.jsonl"]));
        Assert.True(File.Exists(dir["analysis/shift/shift.json"]) && File.Exists(dir["analysis/mi/mi.json"]));
        Assert.True(File.Exists(dir["eval/results.json"]));
        // Every method was trained by DistillRun from a DistillConfig, the type `compact distill` writes and reads.
        foreach (var m in methods.Where(m => m != "base"))
        {
            var cfg = Compact.Distill.DistillConfig.Load(dir[$"runs/{m}/seed-1/run_config.json"]);
            Assert.Equal(Path.Combine(dir.Path, "runs", m, "seed-1"), cfg.Out);
            Assert.Equal(m.StartsWith("single-", StringComparison.Ordinal) ? m["single-".Length..] : null, cfg.Teacher);
        }

        // A second run resumes: nothing is trained again, and the numbers are the same.
        var again = new StringWriter();
        Assert.Equal(0, CompactCli.Run(["demo", "--quick", "--all", "--out", dir.Path], again, err));
        Assert.Contains("Reusing the pre-trained student", again.ToString());
        Assert.DoesNotContain("compact seed 0 →", again.ToString());
        var second = JsonNode.Parse(File.ReadAllText(dir["demo_results.json"]))!;
        Assert.Equal(results["accuracy"]!.ToJsonString(), second["accuracy"]!.ToJsonString());
        Assert.Equal(results["score_validity"]!.ToJsonString(), second["score_validity"]!.ToJsonString());
    }

    [Fact]
    public void Unknown_method_is_refused_before_any_work()
    {
        using var dir = new TestUtil.TempDir();
        var err = new StringWriter();
        Assert.NotEqual(0, CompactCli.Run(["demo", "--quick", "--methods", "uniform,nope", "--out", dir.Path], new StringWriter(), err));
        Assert.Contains("--methods: unknown method \"nope\"", err.ToString());
        Assert.False(File.Exists(dir["world/train.jsonl"]));
    }
}
