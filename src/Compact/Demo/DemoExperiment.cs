using System.Globalization;
using System.Text.Json.Nodes;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Distill;
using Compact.Eval;
using Compact.Generation;
using Compact.IO;
using Compact.Tokenization;
using Compact.Training;
using Compact.Util;

namespace Compact.Demo;

/// <summary>The world's files: the distillation problems, the replay questions and the four test splits.</summary>
public sealed record WorldFiles(List<Problem> Train, List<Known> Replay, List<BenchItem> Id, List<BenchItem> Hard, List<BenchItem> Facts,
    List<BenchItem> Compare, string TrainPath)
{
    public const string ReplayPrefix = "replay-";

    public static WorldFiles Write(DemoOptions o, DemoScale s)
    {
        var dir = Path.Combine(o.Out, "world");
        Directory.CreateDirectory(dir);
        var train = World.Problems(o.Seed, s.TrainProblems, s.MinSteps, s.MaxSteps, "train");
        var id = World.Problems(o.Seed, s.TestItems, s.MinSteps, s.MaxSteps, "test").Select(Item).ToList();
        var hard = World.Problems(o.Seed, s.TestItems, s.HardMinSteps, s.HardMaxSteps, "hard").Select(Item).ToList();
        var rng = new Random(Seeds.Mix(o.Seed, 77));
        var facts = Enumerable.Range(0, s.TestItems).Select(i => { var f = World.Fact(rng); return new BenchItem($"fact-{i}", f.Question, f.Answer, AnswerKind.Numeric); }).ToList();
        var compare = Enumerable.Range(0, s.TestItems).Select(i => { var c = World.Comparison(rng); return new BenchItem($"cmp-{i}", c.Question, c.Answer, AnswerKind.YesNo); }).ToList();
        var replayRng = new Random(Seeds.Mix(o.Seed, 31));
        var replay = Enumerable.Range(0, s.ReplayQuestions).Select(i => World.Original(replayRng, i)).ToList();
        var trainPath = Path.Combine(dir, "train.jsonl");
        AtomicFile.WriteAllText(trainPath, string.Concat(train.Select(p =>
            new JsonObject { ["id"] = p.Id, ["question"] = p.Text, ["answer"] = p.Answer.ToString(CultureInfo.InvariantCulture) }.ToJsonString(Jsonl.Options) + "\n")));
        AtomicFile.WriteAllText(Path.Combine(dir, "replay.jsonl"), string.Concat(replay.Select((k, i) =>
            new JsonObject { ["id"] = $"{ReplayPrefix}{i}", ["question"] = k.Question, ["target"] = k.Target }.ToJsonString(Jsonl.Options) + "\n")));
        foreach (var (name, items) in new[] { ("test_id", id), ("test_hard", hard), ("orig_facts", facts), ("orig_compare", compare) })
            AtomicFile.WriteAllText(Path.Combine(dir, name + ".jsonl"), string.Concat(items.Select(i =>
                new JsonObject { ["id"] = i.Id, ["question"] = i.Question, ["answer"] = i.Gold, ["kind"] = i.Kind.ToString().ToLowerInvariant() }.ToJsonString(Jsonl.Options) + "\n")));
        return new WorldFiles(train, replay, id, hard, facts, compare, trainPath);
    }

    static BenchItem Item(Problem p) => new(p.Id, p.Text, p.Answer.ToString(CultureInfo.InvariantCulture), AnswerKind.Numeric, Subject: $"{p.Steps.Count} steps");
}

/// <summary>Everything a training run of the comparison shares: the scale, the pre-trained student, the problems'
/// branches and the replay questions.</summary>
public sealed record DemoContext(DemoOptions Options, DemoScale Scale, string StudentDir, string Dataset, IReadOnlyList<QuestionBranches> Problems,
    IReadOnlyList<QuestionBranches> Replay, int MaxNewTokens);

/// <summary>One finished training run: its folder, the exported student and the learning-curve exports by step.</summary>
public sealed record RunResult(DemoMethod Method, int Seed, string Dir, string Output, IReadOnlyList<(int Step, string Output)> Curve)
{
    public string EvalName => $"{Method.Name}_s{Seed}";
}

/// <summary>Stages 4–6: branches (with the replay share), one training function for every method, and evaluation
/// (final students on every split, learning-curve exports on the in-distribution prefix).</summary>
public static class DemoExperiment
{
    /// <summary>Written in a run folder when its student is trained and exported (DistillRun's summary.json beside it).</summary>
    const string DoneFile = "demo_run.json";

    public static readonly string[] Benches = ["in-distribution", "harder", "facts", "comparisons"];
    public const string CurveBench = "in-distribution-curve";

    /// <summary>Every problem's branches, built once with the student's tokenizer and the world's answer suffix, in the
    /// world's order of problems and of teachers (teach writes them as the replies arrive, which varies from run to run;
    /// the training data order must not).</summary>
    public static List<QuestionBranches> BuildProblems(string studentDir, string dataset, IReadOnlyList<Problem> train)
    {
        var chat = ChatFormat.For(Student.LoadTokenizer(studentDir));
        var (qs, _) = MultiTeacherData.Load(dataset);
        var order = train.Select((p, i) => (p.Id, i)).ToDictionary(x => x.Id, x => x.i);
        var sorted = qs.OrderBy(q => order.GetValueOrDefault(q.Id, int.MaxValue)).ThenBy(q => q.Id, StringComparer.Ordinal)
            .Select(q => q with { Rationales = q.Rationales.OrderBy(r => Array.IndexOf(ScriptedTeacher.Names, r.Teacher)).ThenBy(r => r.Teacher, StringComparer.Ordinal).ToList() });
        return BranchBuilder.BuildAll(chat, sorted, World.Suffix, 512, TruncationMode.TruncateStart).Where(b => b.K > 0 && b.Problem is null).ToList();
    }

    /// <summary>The replay questions as branches: one per teacher, each the student's own reasoning, so that every method
    /// (a single teacher keeps its one branch, MoT each teacher's round, COMPACT and uniform K identical branches) trains
    /// on the same replay text at the same share of its data.</summary>
    public static List<QuestionBranches> BuildReplay(string studentDir, IReadOnlyList<Known> replay)
    {
        var chat = ChatFormat.For(Student.LoadTokenizer(studentDir));
        var qs = replay.Select((k, i) => new MtQuestion($"{WorldFiles.ReplayPrefix}{i}", k.Question, k.Answer,
            ScriptedTeacher.Names.Select(t => new Rationale(t, k.Reasoning)).ToList()));
        return BranchBuilder.BuildAll(chat, qs, World.Suffix, 512, TruncationMode.TruncateStart);
    }

    /// <summary>New tokens the evaluation allows: every teacher's reply (with the answer suffix) to the longest test
    /// problems fits, so no style is cut off (issue 11, fault 5).</summary>
    public static int MaxNewTokens(string studentDir, WorldFiles w)
    {
        var tok = Student.LoadTokenizer(studentDir);
        var spec = new Teach.TeacherSpec { Name = "x", BaseUrl = "http://unused/v1", Model = "x" };
        int longest = 0;
        foreach (var t in ScriptedTeacher.All())
            foreach (var item in w.Hard.Concat(w.Id))
            {
                var reply = t.Reply(spec.Render(item), 0);
                longest = Math.Max(longest, tok.Encode(World.Target(reply.Text, item.Gold)).Count);
            }
        return longest + 8;
    }

    /// <summary>The one place a method is trained: this method's and seed's <see cref="DistillConfig"/>, run by
    /// <see cref="DistillRun"/> as `compact distill` runs it (same run_config.json schema), with the learning-curve exports.
    /// Resumes: a finished run (demo_run.json) is returned as it is, an interrupted one continues from its checkpoint.</summary>
    public static RunResult TrainMethod(DemoContext c, DemoMethod m, int seed, TextWriter log, ProgressHost progress, CancellationToken ct)
    {
        var s = c.Scale;
        var dir = Path.Combine(c.Options.Out, "runs", m.Name, $"seed-{seed}");
        var summaryPath = Path.Combine(dir, DoneFile);
        if (File.Exists(summaryPath)) return Read(m, seed, dir, summaryPath);
        long runSeed = c.Options.Seed * 1000 + seed;
        bool mot = m.Method == DistillMethod.Mot;
        // Full fine-tuning (issue 11's measurement); MoT trains and merges LoRA branches, so it runs with LoRA r16 at twice the rate
        // (the measurement: LoRA r16 at 2e-3 learns as full fine-tuning does at 1e-3).
        bool full = s.FullFineTune && !mot;
        int every = Math.Max(1, s.DistillSteps / Math.Max(1, s.CurvePoints));
        // Same budget for MoT: DistillRun splits max_steps over the rounds for every teacher's branch, so rounds × teachers
        // branch runs together take the other methods' step count.
        int teachers = c.Problems.SelectMany(q => q.Branches.Select(b => b.Teacher)).Distinct().Count();
        var f = m.Fusion ?? new FusionWeights();
        var config = new DistillConfig
        {
            Model = c.StudentDir, Data = c.Dataset, Out = dir, Method = m.Method, Teacher = m.Teacher, Seed = runSeed,
            MccWeight = 0.1, MotRounds = 2, MinRationales = 1,
            Lora = full ? null : new LoraConfig { Rank = 16, Alpha = 32, Dropout = 0.05 },
            Compact = new CompactConfig
            {
                BetaMi = f.BetaMi, BetaCons = f.BetaCons, BetaPpl = f.BetaPpl, Tau = f.Tau,
                Lambda = m.Method == DistillMethod.Uniform ? 0 : 0.1, AnswerSuffix = World.Suffix.Template,
            },
            Train = new TrainConfig
            {
                BatchSize = s.Batch, GradAccum = 1, Epochs = null, MaxSteps = mot ? Math.Max(1, s.DistillSteps / teachers) : s.DistillSteps,
                Lr = full ? s.DistillLr : 2 * s.DistillLr, WarmupSteps = Math.Max(1, s.DistillSteps / 20), Schedule = ScheduleKind.Cosine,
                MinLrRatio = 0.1, Resume = true, SaveEvery = mot ? 0 : every,
            },
        };
        // The problems and the replay share, built once for every method; DistillRun keeps a single teacher's branches.
        var r = DistillRun.Run(config, TextWriter.Null, progress, ct, new DistillRunOptions
        {
            Questions = c.Problems.Concat(c.Replay).ToList(), Title = $"{m.Name} seed {seed}", Charts = Plots.Charts,
            // Learning-curve exports. The engine saves its checkpoint at the same steps just before this call, so an interrupted
            // run can at most miss the export of the step it was killed at (that curve point is then left out, never invented).
            AfterStep = (step, student) =>
            {
                if (step % every != 0 && step != s.DistillSteps) return;
                student.ExportFinal(Path.Combine(dir, "curve", $"step-{step}"));
            },
        });
        if (r.Stopped) throw new OperationCanceledException();
        string result = r.Summary!.Output;
        AtomicFile.WriteAllText(summaryPath, new JsonObject
        {
            ["method"] = m.Name, ["seed"] = seed, ["output"] = Path.GetRelativePath(dir, result),
        }.ToJsonString(Jsonl.Indented));
        log.WriteLine($"{m.Name} seed {seed} → {result}");
        return Read(m, seed, dir, summaryPath);
    }

    static RunResult Read(DemoMethod m, int seed, string dir, string summaryPath)
    {
        var output = Path.Combine(dir, JsonNode.Parse(File.ReadAllText(summaryPath))!["output"]!.GetValue<string>());
        var curveDir = Path.Combine(dir, "curve");
        var curve = Directory.Exists(curveDir)
            ? Directory.GetDirectories(curveDir, "step-*")
                .Select(d => (Step: int.Parse(Path.GetFileName(d)["step-".Length..], CultureInfo.InvariantCulture), Output: Export(d)))
                .Where(x => x.Output is not null).Select(x => (x.Step, x.Output!)).OrderBy(x => x.Step).ToList()
            : [];
        return new RunResult(m, seed, dir, output, curve);
        static string? Export(string d) => Directory.Exists(Path.Combine(d, "adapter")) ? Path.Combine(d, "adapter")
            : File.Exists(Path.Combine(d, "model", "config.json")) ? Path.Combine(d, "model") : null;
    }

    static Func<IAnswerer> Open(string studentDir, string output, int maxNew) => () => new ModelAnswerer(
        Path.GetFileName(output) == "adapter" ? LoadedModel.Load(studentDir, output) : LoadedModel.Load(output), maxNew);

    /// <summary>The base student and every final student on the four test splits (resumable, batched).</summary>
    public static EvalReport Evaluate(DemoContext c, WorldFiles w, IReadOnlyList<RunResult> runs, ProgressHost progress, CancellationToken ct)
    {
        var models = new List<EvalModel> { new("base", Open(c.StudentDir, c.StudentDir, c.MaxNewTokens)) };
        models.AddRange(runs.Select(r => new EvalModel(r.EvalName, Open(c.StudentDir, r.Output, c.MaxNewTokens))));
        var benches = new List<EvalBench>
        {
            new("in-distribution", "world/test_id.jsonl", w.Id, [], w.Id.Count),
            new("harder", "world/test_hard.jsonl", w.Hard, [], w.Hard.Count),
            new("facts", "world/orig_facts.jsonl", w.Facts, [], w.Facts.Count),
            new("comparisons", "world/orig_compare.jsonl", w.Compare, [], w.Compare.Count),
        };
        return EvalRunner.Run(models, benches, EvalSettings(c), Path.Combine(c.Options.Out, "eval"), TextWriter.Null, progress, ct);
    }

    /// <summary>Learning curves: in-distribution accuracy (on the first CurveItems test problems) at each exported step of
    /// each run, plus the base student at step 0. Per method: (step, mean over seeds).</summary>
    public static Dictionary<string, List<(int Step, double Accuracy)>> Curves(DemoContext c, WorldFiles w, IReadOnlyList<RunResult> runs,
        ProgressHost progress, CancellationToken ct)
    {
        var items = w.Id.Take(c.Scale.CurveItems).ToList();
        var bench = new EvalBench(CurveBench, "world/test_id.jsonl", items, [], w.Id.Count);
        var models = new List<EvalModel> { new("base", Open(c.StudentDir, c.StudentDir, c.MaxNewTokens)) };
        foreach (var r in runs)
            models.AddRange(r.Curve.Select(p => new EvalModel($"{r.EvalName}_step{p.Step}", Open(c.StudentDir, p.Output, c.MaxNewTokens))));
        var report = EvalRunner.Run(models, [bench], EvalSettings(c), Path.Combine(c.Options.Out, "eval-curves"), TextWriter.Null, progress, ct);
        double baseAcc = report.Get("base", CurveBench)!.Score.Accuracy;
        var curves = new Dictionary<string, List<(int, double)>>();
        foreach (var g in runs.GroupBy(r => r.Method.Name))
        {
            var steps = g.SelectMany(r => r.Curve.Select(p => p.Step)).Distinct().Order();
            var points = new List<(int, double)> { (0, baseAcc) };
            foreach (var step in steps)
            {
                var accs = g.Where(r => r.Curve.Any(p => p.Step == step)).Select(r => report.Get($"{r.EvalName}_step{step}", CurveBench)!.Score.Accuracy).ToList();
                points.Add((step, accs.Average()));
            }
            curves[g.Key] = points;
        }
        return curves;
    }

    static EvalOptions EvalSettings(DemoContext c) =>
        new() { BatchSize = c.Scale.EvalBatch, Instruction = "", Settings = new JsonObject { ["max_new_tokens"] = c.MaxNewTokens } };
}
