using System.Diagnostics;
using System.Globalization;
using Compact.Analysis;
using Compact.Util;

namespace Compact.Demo;

/// <summary>`compact demo`: the whole pipeline on the built-in world (<see cref="World"/>). Pre-trains (or reuses) a
/// tiny student on original knowledge (<see cref="DemoStudent"/>), serves four scripted teachers with planted flaws
/// over HTTP and collects their rationales with `teach`, recording each rationale's ground truth
/// (<see cref="DemoTeach"/>), trains every method of the comparison on the same budget, seeds and replay share
/// (<see cref="DemoExperiment.TrainMethod"/>), evaluates the final students and their learning curves, checks
/// COMPACT's scores against the ground truth (<see cref="ScoreValidity"/>) and writes the report with paired
/// differences and a verdict (<see cref="DemoReport"/>). Every stage resumes: rerunning the command redoes only what
/// is missing.</summary>
public static class DemoRunner
{
    public const string WorldVersion = "world-v5";
    public const string ResultsFile = DemoReport.ResultsFile;

    /// <summary>Synchronous on purpose: every stage's tensor work runs on the calling thread. libgomp (libtorch's OpenMP)
    /// gives each thread that starts parallel work a team of its own, and once a process holds more team threads than
    /// cores its idle workers sleep at once instead of spinning, so every parallel region pays a wake-up: after an
    /// `await` moved training to a pool thread, a step took 0.58 s instead of 0.21 s (6 million context switches in an
    /// 8-minute run). The teach stage's HTTP work is waited on here for that reason.</summary>
    public static DemoResults Run(DemoOptions o, TextWriter log, ProgressHost progress, CancellationToken ct = default)
    {
        var scale = o.ResolvedScale;
        var methods = o.Methods;
        var sw = Stopwatch.StartNew();
        Directory.CreateDirectory(o.Out);
        void Stage(string s) => log.WriteLine($"\n== {s}  [{sw.Elapsed:mm\\:ss}]");

        Stage($"1/7 World ({scale.Name}): multi-step word problems, original knowledge to replay, four test splits");
        var world = WorldFiles.Write(o, scale);
        log.WriteLine($"train {world.Train.Count} problems ({scale.MinSteps}–{scale.MaxSteps} steps) + {world.Replay.Count} replay questions; tests of {scale.TestItems} items each: "
            + $"in-distribution, harder ({scale.HardMinSteps}–{scale.HardMaxSteps} steps), facts, comparisons");

        Stage("2/7 Student: pre-train a tiny model on original knowledge, stopped on held-out loss (cached)");
        var studentDir = DemoStudent.Pretrain(o, scale, log, progress, ct);

        Stage("3/7 Teach: four scripted teachers served over HTTP, rationales collected and checked by `teach`, ground truth recorded");
        var dataset = DemoTeach.RunAsync(o.Out, world.TrainPath, log, progress, ct).GetAwaiter().GetResult();   // no tensor work inside
        var truth = DemoTeach.ReadTruth(o.Out);

        Stage("4/7 Branches: every rationale with the world's answer format, plus the replay share");
        var c = new DemoContext(o, scale, studentDir, dataset, DemoExperiment.BuildProblems(studentDir, dataset, world.Train),
            DemoExperiment.BuildReplay(studentDir, world.Replay), DemoExperiment.MaxNewTokens(studentDir, world));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{c.Problems.Count} problems with {c.Problems.Sum(q => q.K)} branches, {c.Replay.Count} replay questions ({100.0 * c.Replay.Count / (c.Replay.Count + c.Problems.Count):0}% of the questions); eval allows {c.MaxNewTokens} new tokens"));

        Stage($"5/7 Distill: {methods.Count} methods × {scale.Seeds} seeds, {scale.DistillSteps} steps × {scale.Batch} questions each");
        var runs = new List<RunResult>();
        foreach (var m in methods)
            for (int s = 0; s < scale.Seeds; s++)
            {
                ct.ThrowIfCancellationRequested();
                runs.Add(DemoExperiment.TrainMethod(c, m, s, log, progress, ct));
            }

        Stage("6/7 Evaluate every student on the four splits, and the learning curves on the in-distribution split");
        var eval = DemoExperiment.Evaluate(c, world, runs, progress, ct);
        var curves = DemoExperiment.Curves(c, world, runs, progress, ct);

        Stage("7/7 Score validity against the ground truth, analyses, report");
        var validity = ScoreValidity.Analyse(runs.Where(r => r.Method.Name == "compact").Select(r => r.Dir), truth);
        var analyses = RunAnalyses(o, studentDir, dataset, world, runs, progress, ct);
        var results = DemoReport.Summarize(o, scale, c.MaxNewTokens, runs, eval, curves, validity, sw.Elapsed);
        var seed0 = runs.Where(r => r.Seed == 0 && r.Method.Name is "compact" or "uniform").Select(r => r.Dir);
        DemoReport.Write(o.Out, results, [.. seed0, Path.Combine(o.Out, "eval"), .. analyses]);
        log.WriteLine(DemoReport.Markdown(results));
        log.WriteLine($"Demo finished in {sw.Elapsed:mm\\:ss} → {Path.Combine(o.Out, "report.html")} and {Path.Combine(o.Out, "report.md")}");
        return results;
    }

    /// <summary>PCA shift of the original-knowledge prompts (base vs the seed-0 students of COMPACT, uniform and, when
    /// present, MoT and the verbose single teacher) and the information-gain trajectory of one rationale (base vs COMPACT).</summary>
    static IReadOnlyList<string> RunAnalyses(DemoOptions o, string student, string dataset, WorldFiles w, IReadOnlyList<RunResult> runs,
        ProgressHost progress, CancellationToken ct)
    {
        var root = Path.Combine(o.Out, "analysis");
        Directory.CreateDirectory(root);
        var prompts = Path.Combine(root, "original_knowledge_prompts.txt");
        IO.AtomicFile.WriteAllText(prompts, string.Concat(w.Facts.Concat(w.Compare).Select(i => i.Question + "\n")));
        var seed0 = runs.Where(r => r.Seed == 0).ToDictionary(r => r.Method.Name, r => r.Dir);
        var shiftDir = Path.Combine(root, "shift");
        if (!seed0.TryGetValue("compact", out var compact0)) return [];   // a calibration run of the baselines alone
        if (!File.Exists(Path.Combine(shiftDir, PcaShift.JsonFile)))
            PcaShift.Run(new ShiftOptions
            {
                BaseDir = student, Tuned = new[] { "compact", "uniform", "mot", "single-verbose" }.Select(n => seed0.GetValueOrDefault(n)).OfType<string>().ToList(),
                PromptsPath = prompts, OutDir = shiftDir, Components = 10,
            }, TextWriter.Null, progress, ct);
        var miDir = Path.Combine(root, "mi");
        if (!File.Exists(Path.Combine(miDir, MiAnalysis.JsonFile)))
            MiAnalysis.Run(new MiOptions
            {
                ModelDir = student, Tuned = compact0, DataPath = dataset, OutDir = miDir, Teacher = "verbose", Limit = 1, Suffix = World.Suffix,
            }, TextWriter.Null);
        return [shiftDir, miDir];
    }
}
