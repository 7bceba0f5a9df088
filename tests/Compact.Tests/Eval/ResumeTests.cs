using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Compact.Benchmarks;
using Compact.Eval;
using Compact.Util;
using static Compact.Tests.Eval.EvalFixtures;

namespace Compact.Tests.Eval;

/// <summary>An interrupted evaluation continues where it stopped: the predictions file is the checkpoint.</summary>
public class ResumeTests
{
    static readonly IReadOnlyList<BenchItem> Items = Real("gsm8k").Take(40).ToList();

    /// <summary>Right on even ids, wrong on odd ones, so the results are not all-or-nothing.</summary>
    static ScriptedAnswerer Half() => new(i => int.Parse(i.Id.Split('/')[1], CultureInfo.InvariantCulture) % 2 == 0 ? ScriptedAnswerer.GoldText(i) : ScriptedAnswerer.WrongText(i));

    static readonly EvalOptions Batch8 = new() { BatchSize = 8 };

    [Fact]
    public void A_run_cut_mid_line_resumes_with_only_the_missing_items_and_the_same_results()
    {
        using var dir = new TestUtil.TempDir();
        var first = Half();
        Run(dir.Path, [Model("m", first)], [Bench("gsm8k", Items)], Batch8);
        var results = File.ReadAllText(dir["results.json"]);
        var path = EvalRunner.PredictionsPath(dir.Path, "m", "gsm8k");
        var full = File.ReadAllLines(path);
        Assert.Equal(40, full.Length);
        Assert.Equal(5, first.Calls);

        // A crash while writing line 18: 17 whole lines and half of the next stay on disk.
        File.WriteAllText(path, string.Concat(full.Take(17).Select(l => l + "\n")) + full[17][..(full[17].Length / 2)], new UTF8Encoding(false));
        File.Delete(dir["results.json"]);

        var second = Half();
        var report = Run(dir.Path, [Model("m", second)], [Bench("gsm8k", Items)], Batch8);
        var kept = full.Take(17).Select(l => JsonNode.Parse(l)!["id"]!.GetValue<string>()).ToHashSet();
        Assert.Equal(Items.Select(i => i.Id).Where(id => !kept.Contains(id)).Order(), second.Asked.Order());   // only the missing 23
        Assert.Equal(23, second.Asked.Count);
        Assert.Equal(3, second.Calls);                                       // ⌈23 / 8⌉ batches
        Assert.Equal(new Score(40, 20), report.Get("m", "gsm8k")!.Score);
        Assert.Equal(23, report.Get("m", "gsm8k")!.AnsweredNow);
        Assert.Equal(results, File.ReadAllText(dir["results.json"]));
        var ids = Lines(path).Select(l => l["id"]!.GetValue<string>()).ToList();
        Assert.Equal(40, ids.Count);
        Assert.Equal(Items.Select(i => i.Id).Order(), ids.Order());         // each id once
    }

    [Fact]
    public void A_cancelled_run_keeps_its_finished_batches_and_a_complete_run_never_loads_the_model()
    {
        using var dir = new TestUtil.TempDir();
        using var cts = new CancellationTokenSource();
        int answered = 0;
        var stopping = new ScriptedAnswerer(i => { if (++answered == 20) cts.Cancel(); return ScriptedAnswerer.GoldText(i); });
        Assert.Throws<OperationCanceledException>(() =>
            EvalRunner.Run([Model("m", stopping)], [Bench("gsm8k", Items)], Batch8, dir.Path, TextWriter.Null, ProgressHost.Silent, cts.Token));
        var path = EvalRunner.PredictionsPath(dir.Path, "m", "gsm8k");
        Assert.Equal(24, File.ReadAllLines(path).Length);                    // batches 1–3 written; the 4th never started
        Assert.False(File.Exists(dir["results.json"]));

        var rest = ScriptedAnswerer.Gold();
        Assert.Equal(new Score(40, 40), Run(dir.Path, [Model("m", rest)], [Bench("gsm8k", Items)], Batch8).Get("m", "gsm8k")!.Score);
        Assert.Equal(16, rest.Asked.Count);

        int opened = 0;
        var again = Run(dir.Path, [new EvalModel("m", () => { opened++; return ScriptedAnswerer.Wrong(); })], [Bench("gsm8k", Items)], Batch8);
        Assert.Equal(0, opened);
        Assert.Equal(new Score(40, 40), again.Get("m", "gsm8k")!.Score);
    }

    [Fact]
    public void A_larger_limit_answers_only_the_new_items_and_a_smaller_one_counts_only_its_own()
    {
        using var dir = new TestUtil.TempDir();
        Run(dir.Path, [Model("m", Half())], [Bench("gsm8k", Items.Take(10).ToList())]);
        var more = Half();
        Assert.Equal(new Score(40, 20), Run(dir.Path, [Model("m", more)], [Bench("gsm8k", Items)]).Get("m", "gsm8k")!.Score);
        Assert.Equal(30, more.Asked.Count);
        Assert.Equal(new Score(5, 3), Run(dir.Path, [Model("m", Half())], [Bench("gsm8k", Items.Take(5).ToList())]).Get("m", "gsm8k")!.Score);
    }

    [Fact]
    public void Resuming_with_other_settings_or_another_file_is_refused()
    {
        using var dir = new TestUtil.TempDir();
        var o = new EvalOptions { Settings = new JsonObject { ["max_new_tokens"] = 8 } };
        Run(dir.Path, [Model("m", Half())], [Bench("gsm8k", Items)], o);

        var e = Assert.Throws<CompactException>(() => Run(dir.Path, [Model("m", Half())], [Bench("gsm8k", Items)],
            o with { Settings = new JsonObject { ["max_new_tokens"] = 9 } }));
        Assert.Contains("max_new_tokens: 8 then, 9 now", e.Message);
        e = Assert.Throws<CompactException>(() => Run(dir.Path, [Model("m", Half())], [Bench("gsm8k", Items)], o with { Instruction = "Be brief." }));
        Assert.Contains("(system: ", e.Message);

        var changed = Items.Select((i, k) => k == 3 ? i with { Gold = "12345" } : i).ToList();
        e = Assert.Throws<CompactException>(() => Run(dir.Path, [Model("m", Half())], [Bench("gsm8k", changed)], o));
        var path = EvalRunner.PredictionsPath(dir.Path, "m", "gsm8k");
        int line = 1 + Array.FindIndex(File.ReadAllLines(path), l => l.Contains("\"id\":\"gsm8k/3\""));
        Assert.Contains($"gsm8k.predictions.jsonl:{line}: gold answer \"540\" of gsm8k/3 differs from \"12345\"", e.Message);
    }

    [Fact]
    public void A_malformed_complete_line_names_the_file_and_line()
    {
        using var dir = new TestUtil.TempDir();
        Run(dir.Path, [Model("m", Half())], [Bench("gsm8k", Items.Take(4).ToList())]);
        var path = EvalRunner.PredictionsPath(dir.Path, "m", "gsm8k");
        var lines = File.ReadAllLines(path);
        lines[1] = "{\"id\": \"gsm8k/1\"}";
        File.WriteAllLines(path, lines);
        var e = Assert.Throws<CompactException>(() => Run(dir.Path, [Model("m", Half())], [Bench("gsm8k", Items.Take(4).ToList())]));
        Assert.Contains($"{path}:2: ", e.Message);
        Assert.Contains("delete that line", e.Message);
        File.WriteAllLines(path, [lines[0], "{not json", .. lines[2..]]);
        e = Assert.Throws<CompactException>(() => Run(dir.Path, [Model("m", Half())], [Bench("gsm8k", Items.Take(4).ToList())]));
        Assert.Contains($"{path}:2: not valid JSON", e.Message);
    }
}
