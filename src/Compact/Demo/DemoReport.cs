using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Compact.Eval;
using Compact.IO;
using Compact.Report;
using Compact.Util;
using static System.FormattableString;

namespace Compact.Demo;

/// <summary>A method's accuracy on one split: the mean over seeds, its standard error over seeds (null with one seed),
/// and each seed's value.</summary>
public sealed record SeedStat(double Mean, double? Se, IReadOnlyList<double> PerSeed)
{
    public static SeedStat Of(IReadOnlyList<double> xs)
    {
        double mean = xs.Average();
        double? se = xs.Count > 1 ? Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Count - 1) / xs.Count) : null;
        return new(mean, se, xs);
    }
}

/// <summary>COMPACT minus a baseline on one split over the same seeds, in accuracy (0–1). SeSeeds: the standard error
/// of the mean over seeds (training noise; null with one seed); SeItems: the paired standard error over every (seed,
/// test item) pair (test-set noise). The verdict uses the larger.</summary>
public sealed record PairedDiff(string Baseline, string Bench, double Mean, double? SeSeeds, double SeItems, int Seeds)
{
    public double Se => Math.Max(SeSeeds ?? 0, SeItems);
    /// <summary>Distinguishable: more than two standard errors from zero.</summary>
    public int Sign => Mean > 2 * Se ? 1 : Mean < -2 * Se ? -1 : 0;
}

public sealed record MethodResult(string Name, IReadOnlyDictionary<string, SeedStat> Accuracy, IReadOnlyList<(int Step, double Accuracy)> Curve);

/// <summary>The demo's results (demo_results.json; bench/results keeps the README's runs).</summary>
public sealed record DemoResults(string Scale, string Command, int Seeds, double ElapsedSeconds, int Cores, int MaxNewTokens,
    IReadOnlyDictionary<string, double> Base, IReadOnlyList<MethodResult> Methods, IReadOnlyList<PairedDiff> Paired,
    ScoreValidityReport Validity, string Verdict)
{
    public JsonObject ToJson()
    {
        static JsonNode? R(double? v) => v is { } x && !double.IsNaN(x) ? Math.Round(x, 4) : null;
        return new JsonObject
        {
            ["scale"] = Scale, ["command"] = Command, ["seeds"] = Seeds, ["elapsed_s"] = Math.Round(ElapsedSeconds), ["cores"] = Cores,
            ["max_new_tokens"] = MaxNewTokens,
            ["base"] = new JsonObject(Base.Select(kv => KeyValuePair.Create(kv.Key, R(kv.Value)))),
            ["accuracy"] = new JsonObject(Methods.Select(m => KeyValuePair.Create(m.Name, (JsonNode?)new JsonObject(m.Accuracy.Select(a =>
                KeyValuePair.Create(a.Key, (JsonNode?)new JsonObject
                {
                    ["mean"] = R(a.Value.Mean), ["se"] = R(a.Value.Se), ["per_seed"] = new JsonArray(a.Value.PerSeed.Select(x => R(x)).ToArray()),
                })))))),
            ["learning_curves"] = new JsonObject(Methods.Select(m => KeyValuePair.Create(m.Name, (JsonNode?)new JsonArray(
                m.Curve.Select(p => (JsonNode)new JsonObject { ["step"] = p.Step, ["in_distribution"] = R(p.Accuracy) }).ToArray())))),
            ["paired_differences"] = new JsonArray(Paired.Select(p => (JsonNode)new JsonObject
            {
                ["baseline"] = p.Baseline, ["bench"] = p.Bench, ["compact_minus_baseline"] = R(p.Mean), ["se_seeds"] = R(p.SeSeeds),
                ["se_items"] = R(p.SeItems), ["seeds"] = p.Seeds,
            }).ToArray()),
            ["score_validity"] = Validity.ToJson(),
            ["verdict"] = Verdict,
        };
    }
}

/// <summary>Stage 7: the comparison's numbers, the paired differences, the verdict sentence, and report.md/html.</summary>
public static class DemoReport
{
    public const string ResultsFile = "demo_results.json";

    public static DemoResults Summarize(DemoOptions o, DemoScale s, int maxNewTokens, IReadOnlyList<RunResult> runs, EvalReport eval,
        IReadOnlyDictionary<string, List<(int Step, double Accuracy)>> curves, ScoreValidityReport validity, TimeSpan elapsed)
    {
        var benches = DemoExperiment.Benches;
        var baseAcc = benches.ToDictionary(b => b, b => eval.Get("base", b)!.Score.Accuracy);
        var methods = o.Methods.Select(m => new MethodResult(m.Name, benches.ToDictionary(b => b,
                b => SeedStat.Of(runs.Where(r => r.Method.Name == m.Name).OrderBy(r => r.Seed).Select(r => eval.Get(r.EvalName, b)!.Score.Accuracy).ToList())),
            curves.TryGetValue(m.Name, out var c) ? c : [])).ToList();
        var paired = new List<PairedDiff>();
        foreach (var m in o.Methods.Where(m => m.Name != "compact" && runs.Any(r => r.Method.Name == "compact")))
            foreach (var b in benches)
                paired.Add(Paired(m.Name, b, runs, eval));
        var verdict = runs.Any(r => r.Method.Name == "compact") ? Verdict(paired, benches) : "COMPACT was not run (a calibration run of the baselines).";
        return new DemoResults(s.Name, o.Command, s.Seeds, elapsed.TotalSeconds, Environment.ProcessorCount, maxNewTokens, baseAcc, methods, paired, validity, verdict);
    }

    static PairedDiff Paired(string baseline, string bench, IReadOnlyList<RunResult> runs, EvalReport eval)
    {
        var perSeed = new List<double>();
        var perItem = new List<double>();
        foreach (var cr in runs.Where(r => r.Method.Name == "compact").OrderBy(r => r.Seed))
        {
            var br = runs.SingleOrDefault(r => r.Method.Name == baseline && r.Seed == cr.Seed);
            if (br is null) continue;
            var a = eval.Get(cr.EvalName, bench)!;
            var b = eval.Get(br.EvalName, bench)!;
            perSeed.Add(a.Score.Accuracy - b.Score.Accuracy);
            foreach (var (id, ok) in a.Verdicts ?? new Dictionary<string, bool>())
                if (b.Verdicts is not null && b.Verdicts.TryGetValue(id, out var okB)) perItem.Add((ok ? 1 : 0) - (okB ? 1 : 0));
        }
        var seeds = SeedStat.Of(perSeed);
        double itemMean = perItem.Count > 0 ? perItem.Average() : 0;
        double seItems = perItem.Count > 1 ? Math.Sqrt(perItem.Sum(d => (d - itemMean) * (d - itemMean)) / (perItem.Count - 1) / perItem.Count) : double.NaN;
        return new PairedDiff(baseline, bench, seeds.Mean, seeds.Se, seItems, perSeed.Count);
    }

    static string Pts(double x) => (100 * x).ToString("+0.0;−0.0;0.0", CultureInfo.InvariantCulture);

    /// <summary>Which method wins where, from the paired differences alone: a difference counts when it is more than two
    /// standard errors from zero; otherwise COMPACT and that baseline are indistinguishable on that split.</summary>
    public static string Verdict(IReadOnlyList<PairedDiff> paired, IReadOnlyList<string> benches)
    {
        if (paired.Count == 0) return "There is no baseline to compare COMPACT with.";
        if (paired.All(p => p.Sign == 0))
            return "No difference between COMPACT and any baseline is distinguishable from noise: every paired difference is within two standard errors of zero "
                + $"(largest: {Describe(paired.OrderByDescending(p => Math.Abs(p.Mean)).First())} on {paired.OrderByDescending(p => Math.Abs(p.Mean)).First().Bench}).";
        var sb = new StringBuilder();
        foreach (var b in benches)
        {
            var ps = paired.Where(p => p.Bench == b).ToList();
            var wins = ps.Where(p => p.Sign > 0).ToList();
            var losses = ps.Where(p => p.Sign < 0).ToList();
            var ties = ps.Where(p => p.Sign == 0).ToList();
            var parts = new List<string>();
            if (wins.Count > 0) parts.Add("beats " + string.Join(", ", wins.Select(Describe)));
            if (losses.Count > 0) parts.Add("trails " + string.Join(", ", losses.Select(Describe)));
            if (ties.Count > 0) parts.Add((parts.Count > 0 ? "and is indistinguishable from " : "is indistinguishable from ") + string.Join(", ", ties.Select(Describe)));
            sb.Append(CultureInfo.InvariantCulture, $"On {b}, COMPACT {string.Join("; ", parts)}. ");
        }
        return sb.ToString().TrimEnd();
    }

    static string Describe(PairedDiff p) => Invariant($"{p.Baseline} ({Pts(p.Mean)} ± {100 * p.Se:0.0} pts)");

    static string Cell(SeedStat s) => s.Se is { } se ? Invariant($"{100 * s.Mean:0.0} ± {100 * se:0.0}") : Invariant($"{100 * s.Mean:0.0}");

    /// <summary>Original knowledge kept: mean accuracy on facts and comparisons as a share of the base student's.</summary>
    public static double Kept(IReadOnlyDictionary<string, double> acc, IReadOnlyDictionary<string, double> baseAcc) =>
        (acc["facts"] + acc["comparisons"]) / Math.Max(1e-9, baseAcc["facts"] + baseAcc["comparisons"]);

    public static (IReadOnlyList<string> Headers, List<IReadOnlyList<string>> Rows) AccuracyTable(DemoResults r)
    {
        IReadOnlyList<string> headers = ["method", .. DemoExperiment.Benches, "original kept (% of base)"];
        var rows = new List<IReadOnlyList<string>> { (IReadOnlyList<string>)["base", .. DemoExperiment.Benches.Select(b => Invariant($"{100 * r.Base[b]:0.0}")), "100"] };
        rows.AddRange(r.Methods.Select(m => (IReadOnlyList<string>)[m.Name, .. DemoExperiment.Benches.Select(b => Cell(m.Accuracy[b])),
            Invariant($"{100 * Kept(m.Accuracy.ToDictionary(kv => kv.Key, kv => kv.Value.Mean), r.Base):0}")]));
        return (headers, rows);
    }

    public static (IReadOnlyList<string>, List<IReadOnlyList<string>>) PairedTable(DemoResults r)
    {
        IReadOnlyList<string> headers = ["COMPACT minus", .. DemoExperiment.Benches];
        var rows = r.Paired.GroupBy(p => p.Baseline).Select(g => (IReadOnlyList<string>)[g.Key,
            .. DemoExperiment.Benches.Select(b => g.Single(p => p.Bench == b) is var p ? Invariant($"{Pts(p.Mean)} ± {100 * p.Se:0.0}") + (p.Sign != 0 ? " *" : "") : "")]).ToList();
        return (headers, rows);
    }

    public static (IReadOnlyList<string>, List<IReadOnlyList<string>>) ValidityTable(ScoreValidityReport v)
    {
        IReadOnlyList<string> headers = ["flaw (vs clean)", .. ScoreValidityReport.Scores.Select(s => $"AUC {s}"), "clean / flawed branches"];
        var rows = ScoreValidityReport.Flaws.Select(f => (IReadOnlyList<string>)[f,
            .. ScoreValidityReport.Scores.Select(s => v.Auc(f, s) is var a && double.IsNaN(a) ? "—" : a.ToString("0.00", CultureInfo.InvariantCulture)),
            $"{v.Separations.First(s => s.Flaw == f).Clean} / {v.Separations.First(s => s.Flaw == f).Flawed}"]).ToList();
        return (headers, rows);
    }

    /// <summary>What the diagnostic shows, in words: which scores see which flaw, and which work backwards.</summary>
    public static string ValidityFinding(ScoreValidityReport v)
    {
        var parts = new List<string>();
        foreach (var f in ScoreValidityReport.Flaws.Skip(1))
            foreach (var s in ScoreValidityReport.Scores)
            {
                double a = v.Auc(f, s);
                if (double.IsNaN(a)) continue;
                string how = a >= 0.6 ? "sees" : a <= 0.4 ? "works backwards on" : "cannot tell";
                parts.Add(Invariant($"{s} {how} {f.Replace('_', ' ')} (AUC {a:0.00})"));
            }
        var alpha = string.Join(", ", v.MeanAlpha.Select(kv => Invariant($"{kv.Key} {kv.Value:0.00}")));
        return (parts.Count == 0 ? "No flawed rationale was scored." : string.Join("; ", parts) + ".") + $" Mean α over training: {alpha}.";
    }

    public static string Markdown(DemoResults r)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Compact demo ({r.Scale})\n");
        md.AppendLine(Intro(r) + "\n");
        var (h, rows) = AccuracyTable(r);
        md.Append(Tables.Markdown(h, rows)).AppendLine();
        var (ph, prows) = PairedTable(r);
        md.AppendLine("Paired differences, COMPACT minus each method over the same seeds (points ± SE; * more than 2 SE from zero):\n");
        md.Append(Tables.Markdown(ph, prows)).AppendLine();
        md.AppendLine("In-distribution accuracy during training (learning curves, mean over seeds, on the first test problems):\n");
        var steps = r.Methods.SelectMany(m => m.Curve.Select(p => p.Step)).Distinct().Order().ToList();
        md.Append(Tables.Markdown(["method", .. steps.Select(s => $"step {s}")], r.Methods.Select(m => (IReadOnlyList<string>)[m.Name,
            .. steps.Select(s => m.Curve.Where(p => p.Step == s).Select(p => Invariant($"{100 * p.Accuracy:0.0}")).FirstOrDefault() ?? "—")]))).AppendLine();
        var (vh, vrows) = ValidityTable(r.Validity);
        md.AppendLine("Score validity (COMPACT runs, every question and step): AUC with which each score, read as α reads it, ranks clean rationales above flawed ones (0.5: blind; below 0.5: backwards):\n");
        md.Append(Tables.Markdown(vh, vrows)).AppendLine();
        md.AppendLine(ValidityFinding(r.Validity) + "\n");
        md.AppendLine(CultureInfo.InvariantCulture, $"**Verdict.** {r.Verdict}");
        return md.ToString();
    }

    static string Intro(DemoResults r) =>
        Invariant($"Command: `{r.Command}` · {r.Methods.Count} methods × {r.Seeds} seeds · {r.ElapsedSeconds / 60:0.0} min on {r.Cores} cores · eval up to {r.MaxNewTokens} new tokens. ")
        + "Accuracy (%) on each test split, mean ± SE over seeds. In-distribution: word problems like the training set; harder: more steps; facts and "
        + "comparisons: the student's original knowledge (replayed alike for every method), whose change measures forgetting.";

    /// <summary>report.md, report.html (self-contained, with the learning curves and α curves) and the results JSON.</summary>
    public static void Write(string outDir, DemoResults r, IReadOnlyList<string> extraDirs)
    {
        AtomicFile.WriteAllText(Path.Combine(outDir, ResultsFile), r.ToJson().ToJsonString(Jsonl.Indented));
        var curvesPng = Path.Combine(outDir, "learning_curves.png");
        Plots.Lines(curvesPng, "In-distribution accuracy during training", "optimizer step", "accuracy (mean over seeds)",
            r.Methods.Where(m => m.Curve.Count > 0).Select(m => new Plots.Series(m.Name, m.Curve.Select(p => (double)p.Step).ToList(), m.Curve.Select(p => p.Accuracy).ToList(), true)));
        var alphaPng = Path.Combine(outDir, "teacher_weights.png");
        if (r.Validity.AlphaCurves.Count > 0)
            Plots.Lines(alphaPng, "COMPACT: mean teacher weight α during training", "optimizer step", "mean α",
                r.Validity.AlphaCurves.Select(kv => new Plots.Series(kv.Key, kv.Value.Select(p => (double)p.Step).ToList(), kv.Value.Select(p => p.Alpha).ToList())));
        var (h, rows) = AccuracyTable(r);
        var (ph, prows) = PairedTable(r);
        var (vh, vrows) = ValidityTable(r.Validity);
        var blocks = new List<Block>
        {
            new Para(Intro(r)),
            new TableBlock("Accuracy (%), mean ± SE over seeds", h, rows),
            new TableBlock("COMPACT minus each method, same seeds (points ± SE; * more than 2 SE from zero)", ph, prows),
            new ImageBlock("In-distribution accuracy during training", curvesPng),
            new TableBlock("Score validity: AUC of each score against the planted flaws", vh, vrows),
            new Para(ValidityFinding(r.Validity)),
            new Para("Verdict. " + r.Verdict),
        };
        if (File.Exists(alphaPng)) blocks.Add(new ImageBlock("COMPACT: mean weight of each teacher over training", alphaPng));
        var rest = RunReport.Build(extraDirs);
        var doc = new ReportDocument($"Compact demo ({r.Scale})", null,
            [new ReportSection("demo", "Summary", outDir, blocks) { Anchor = "summary" }, .. rest.Sections], DateTime.Now);
        AtomicFile.WriteAllText(Path.Combine(outDir, RunReport.HtmlFile), Html.Render(doc));
        AtomicFile.WriteAllText(Path.Combine(outDir, RunReport.MarkdownFile), MarkdownWriter.Render(doc, outDir));
    }
}
