using System.Text.Json.Nodes;
using Compact.Benchmarks;
using Compact.Eval;
using static Compact.Tests.Eval.EvalFixtures;

namespace Compact.Tests.Eval;

/// <summary>Breakdowns and the comparison table (results.md, results.csv, results.json).</summary>
public class ReportTests
{
    [Fact]
    public void Math500_breaks_down_by_subject_and_level()
    {
        using var dir = new TestUtil.TempDir();
        var items = EvalSelection.Select(Real("math500"), 100, seed: 3);
        // Right exactly on levels 1 and 2.
        var easy = new ScriptedAnswerer(i => i.Level is "1" or "2" ? ScriptedAnswerer.GoldText(i) : ScriptedAnswerer.WrongText(i));
        var r = Run(dir.Path, [Model("m", easy)], [Bench("math500", items)]).Get("m", "math500")!;

        Assert.Equal(["1", "2", "3", "4", "5"], r.ByLevel.Select(g => g.Key));
        foreach (var g in r.ByLevel)
        {
            int n = items.Count(i => i.Level == g.Key);
            Assert.Equal(new Score(n, g.Key is "1" or "2" ? n : 0), g.Score);
        }
        var subjects = items.GroupBy(i => i.Subject!).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        Assert.Equal(subjects.Select(g => g.Key), r.BySubject.Select(g => g.Key));
        foreach (var (g, s) in r.BySubject.Zip(subjects))
            Assert.Equal(new Score(s.Count(), s.Count(i => i.Level is "1" or "2")), g.Score);
        Assert.Equal(r.Score, new Score(r.ByLevel.Sum(g => g.Score.N), r.ByLevel.Sum(g => g.Score.Correct)));

        var json = JsonNode.Parse(File.ReadAllText(dir["results.json"]))!["results"]!["m"]!["math500"]!;
        Assert.Equal(items.Count(i => i.Level == "5"), json["by_level"]!["5"]!["n"]!.GetValue<int>());
        Assert.Equal(0.0, json["by_level"]!["5"]!["accuracy"]!.GetValue<double>());
        var md = File.ReadAllText(dir["results.md"]);
        Assert.Contains("## math500 by subject", md);
        Assert.Contains("| model | level 1 | level 2 | level 3 | level 4 | level 5 |", md);
        var line = Lines(EvalRunner.PredictionsPath(dir.Path, "m", "math500")).Single(l => l["id"]!.GetValue<string>() == items[0].Id);
        Assert.Equal(items[0].Subject, line["subject"]!.GetValue<string>());
        Assert.Equal(items[0].Level, line["level"]!.GetValue<string>());
    }

    [Fact]
    public void Gsm8k_has_no_breakdown()
    {
        using var dir = new TestUtil.TempDir();
        var r = Run(dir.Path, [Model("m", ScriptedAnswerer.Gold())], [Bench("gsm8k", Real("gsm8k").Take(5).ToList())]).Get("m", "gsm8k")!;
        Assert.Empty(r.BySubject);
        Assert.Empty(r.ByLevel);
        Assert.DoesNotContain("## ", File.ReadAllText(dir["results.md"]));
    }

    static ScriptedAnswerer RightOn(ISet<string> ids) =>
        new(i => ids.Contains(i.Id) ? ScriptedAnswerer.GoldText(i) : ScriptedAnswerer.WrongText(i));

    [Fact]
    public void Two_models_give_one_comparison_table_with_forgetting_against_base()
    {
        using var dir = new TestUtil.TempDir();
        var gsm = Real("gsm8k").Take(20).ToList();
        var svamp = Real("svamp").Take(10).ToList();
        // tuned: 10/20 on gsm8k, 7/10 on svamp; base: 20/20 on gsm8k, 6/10 on svamp. "tuned" comes first: "base" is still the baseline.
        var tuned = RightOn(gsm.Where((_, k) => k % 2 == 0).Concat(svamp.Take(7)).Select(i => i.Id).ToHashSet());
        var @base = RightOn(gsm.Concat(svamp.Take(6)).Select(i => i.Id).ToHashSet());
        var report = Run(dir.Path, [Model("tuned", tuned), Model("base", @base)], [Bench("gsm8k", gsm), Bench("svamp", svamp)]);

        Assert.Equal("base", report.Baseline);
        // Cells: 50% ± sqrt(.25/20) = 11.18; 70% ± sqrt(.21/10) = 14.49; 60% ± sqrt(.24/10) = 15.49.
        // Paired SE of Δ, d = tuned − base per question: gsm8k d = 0 on the 10 even, −1 on the 10 odd questions,
        // mean −0.5, mean(d²) 0.5, sqrt((0.5 − 0.25)/20) = 0.1118 → 11.2; svamp d = +1 on question 7 only, mean 0.1,
        // mean(d²) 0.1, sqrt((0.1 − 0.01)/10) = 0.0949 → 9.5.
        var csv = """
            model,gsm8k,svamp,Δ gsm8k vs base,Δ svamp vs base
            tuned,50.0 ± 11.2 (n=20),70.0 ± 14.5 (n=10),-50.0 ± 11.2,+10.0 ± 9.5
            base,100.0 ± 0.0 (n=20),60.0 ± 15.5 (n=10),—,—

            """.ReplaceLineEndings("\n");
        Assert.Equal(csv, File.ReadAllText(dir["results.csv"]).ReplaceLineEndings("\n"));
        var md = File.ReadAllText(dir["results.md"]);
        Assert.Contains("| tuned | 50.0 ± 11.2 (n=20) | 70.0 ± 14.5 (n=10) | -50.0 ± 11.2 | +10.0 ± 9.5 |", md);
        Assert.Contains("paired standard error", md);
        Assert.Contains("against `base`", md);
        Assert.Contains("## svamp by subject", md);                 // SVAMP's Type

        var json = JsonNode.Parse(File.ReadAllText(dir["results.json"]))!;
        Assert.Equal("base", json["baseline"]!.GetValue<string>());
        Assert.Equal(-50.0, json["forgetting_points"]!["tuned"]!["gsm8k"]!.GetValue<double>(), 9);
        Assert.Equal(10.0, json["forgetting_points"]!["tuned"]!["svamp"]!.GetValue<double>(), 9);
        Assert.Null(json["forgetting_points"]!["base"]);
        Assert.Equal(100 * Math.Sqrt(0.25 / 20), json["forgetting_se_points"]!["tuned"]!["gsm8k"]!.GetValue<double>(), 3);
        Assert.Equal(100 * Math.Sqrt(0.09 / 10), json["forgetting_se_points"]!["tuned"]!["svamp"]!.GetValue<double>(), 3);
        var g = json["results"]!["tuned"]!["gsm8k"]!;
        Assert.Equal(20, g["n"]!.GetValue<int>());
        Assert.Equal(10, g["correct"]!.GetValue<int>());
        Assert.Equal(0.5, g["accuracy"]!.GetValue<double>());
        Assert.Equal(Math.Sqrt(0.25 / 20), g["sem"]!.GetValue<double>(), 12);
        Assert.Equal("tuned/gsm8k.predictions.jsonl", g["predictions"]!.GetValue<string>());
    }

    [Fact]
    public void Without_a_model_named_base_the_first_is_the_baseline_and_one_model_has_no_delta()
    {
        var s = new Score(10, 5);
        BenchResult R(string m) => new(m, "b", s, [], [], "", 0);
        Assert.Equal("x", new EvalReport(["x", "y"], ["b"], [R("x"), R("y")]).Baseline);
        var single = new EvalReport(["x"], ["b"], [R("x")]);
        Assert.Null(single.Baseline);
        Assert.Equal(["model", "b"], single.Headers);
        Assert.Null(single.ToJson()["forgetting_points"]);
    }

    [Fact]
    public void The_paired_error_needs_the_same_questions_on_both_sides()
    {
        // base right on a, b; tuned right on b, c, d (of a, b, c, d): d = (−1, 0, +1, +1), mean 0.25, mean(d²) 0.75,
        // SE = sqrt((0.75 − 0.0625)/4) = 0.4146 → 41.5 points; Δ = 75 − 50 = +25.0.
        static Dictionary<string, bool> V(params bool[] c) => c.Select((x, k) => (x, k)).ToDictionary(p => ((char)('a' + p.k)).ToString(), p => p.x);
        BenchResult R(string m, Dictionary<string, bool> v) => new(m, "b", new Score(v.Count, v.Count(kv => kv.Value)), [], [], "", 0, v);
        var same = new EvalReport(["base", "tuned"], ["b"], [R("base", V(true, true, false, false)), R("tuned", V(false, true, true, true))]);
        Assert.Equal(41.458, same.DeltaSe("tuned", "b")!.Value, 3);
        Assert.Equal("+25.0 ± 41.5", same.Rows[1][2]);
        // tuned scored on three of the four questions only (a server left one unanswered): no paired error, Δ alone.
        var fewer = new Dictionary<string, bool> { ["b"] = true, ["c"] = true, ["d"] = true };
        var partial = new EvalReport(["base", "tuned"], ["b"], [R("base", V(true, true, false, false)), R("tuned", fewer)]);
        Assert.Null(partial.DeltaSe("tuned", "b"));
        Assert.Equal("+50.0", partial.Rows[1][2]);
    }
}
