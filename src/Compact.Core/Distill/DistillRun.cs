using System.Diagnostics;
using System.Globalization;
using Compact.Tokenization;
using Compact.Training;
using Compact.Util;

namespace Compact.Distill;

/// <summary>What a distillation run ended with: the engine's summary (null for MoT, whose branches are engine runs of
/// their own), and the summary.json it wrote (null when it stopped early with a checkpoint, to be resumed).</summary>
public sealed record DistillResult(TrainSummary? Train, RunSummary? Summary)
{
    public bool Stopped => Summary is null;
}

/// <summary>What a caller may add to a run that is not part of its configuration (nothing here changes the result).</summary>
public sealed record DistillRunOptions
{
    /// <summary>Branches already built (the demo builds them once for many runs) with the student's chat format and the
    /// config's answer suffix and max_seq_len; the config's teacher and min_rationales still select among them. Null:
    /// read and build <see cref="DistillConfig.Data"/>.</summary>
    public IReadOnlyList<QuestionBranches>? Questions { get; init; }
    /// <summary>Called after every optimizer step (tests watch live tensors with it).</summary>
    public Action<int>? OnStep { get; init; }
    /// <summary>Called after every optimizer step (and after the engine's checkpoint of that step) with the student being
    /// trained; the demo exports its learning-curve students from here. Not called by MoT's branch runs.</summary>
    public Action<int, Student>? AfterStep { get; init; }
    /// <summary>The progress bar's name (default "distill METHOD").</summary>
    public string? Title { get; init; }
    /// <summary>Draws loss.png and teacher_weights.png (null: no charts).</summary>
    public ILineCharts? Charts { get; init; }
}

/// <summary>One distillation run, for every method: setup (student, data), train, export. COMPACT, its ablations
/// (fusion weights at 0), the uniform average, a single teacher and MCC-KD train <see cref="DistillRecipe"/> on the
/// engine; MoT runs <see cref="MotRunner"/>. The run folder gets run_config.json (the <see cref="DistillConfig"/>,
/// read back by the same type), metrics.jsonl (<see cref="StepRecord"/> lines with every question's
/// <see cref="QuestionRecord"/>), loss.png, teacher_weights.png, checkpoints, adapter/ or model/ and summary.json
/// (<see cref="RunSummary"/>). The command line (`compact distill`) and the demo both run through here.</summary>
public static class DistillRun
{
    /// <summary>Loads the student, builds the data (or selects among <see cref="DistillRunOptions.Questions"/>), trains and
    /// exports. A run stopped early (cancellation, <see cref="TrainConfig.StopAfter"/>) keeps its checkpoint and returns
    /// with <see cref="DistillResult.Stopped"/>; run again with <see cref="TrainConfig.Resume"/> to continue.</summary>
    public static DistillResult Run(DistillConfig config, TextWriter log, IProgressReporter progress, CancellationToken ct = default,
        DistillRunOptions? options = null)
    {
        options ??= new DistillRunOptions();
        config.Validate();
        using var student = Student.Load(config.StudentOptions());
        var qs = options.Questions is null ? Prepare(config, student.Chat, log) : Select(config, options.Questions);
        string method = Name(config.Method);
        var afterStep = config.Method == DistillMethod.Mot ? null : options.AfterStep;
        var eo = config.EngineOptions(afterStep is null ? options.OnStep : s => { options.OnStep?.Invoke(s); afterStep(s, student); });
        if (options.Title is { } title) eo = eo with { Title = title };
        eo = eo with { Charts = options.Charts };
        if (config.Method == DistillMethod.Mot) return RunMot(config, eo, student, qs, log, progress, ct);

        var objective = new CompactObjective(student.Model, student.Tokenizer, config.Compact.Options());
        var recipe = new DistillRecipe(student, qs, objective, config.Method, config.MccWeight, config.Seed);
        var train = Engine.Run(recipe, eo, config, log, progress, ct);
        var curves = options.Charts is null ? null : TeacherCurves.Plot(config.Out, options.Charts);
        if (train.Stopped) return new DistillResult(train, null);
        var summary = RunSummary.From($"distill {method}", train, student.ExportFinal(config.Out)) with { Method = method, TeacherWeightsPng = curves };
        summary.Write(config.Out);
        return new DistillResult(train, summary);
    }

    /// <summary>MoT: the budget (max_steps or epochs) is split across the rounds, per branch; each branch trains one
    /// micro-batch of batch_size × grad_accum rationales per step.</summary>
    static DistillResult RunMot(DistillConfig config, EngineOptions eo, Student student, IReadOnlyList<QuestionBranches> qs, TextWriter log,
        IProgressReporter progress, CancellationToken ct)
    {
        int rounds = config.MotRounds;
        var mo = new MotRunner.Options
        {
            OutDir = config.Out, Rounds = rounds,
            StepsPerBranch = eo.MaxSteps is { } ms ? Math.Max(1, (ms + rounds - 1) / rounds) : null,
            EpochsPerBranch = Math.Max(1, (eo.Epochs ?? 1) / rounds),
            Engine = eo with { MicroBatch = Math.Max(1, eo.MicroBatch * eo.GradAccum), GradAccum = 1 },
        };
        Directory.CreateDirectory(config.Out);
        config.Save(config.Out);
        var sw = Stopwatch.StartNew();
        var result = MotRunner.Run(student, qs, mo, log, progress, ct);
        int teachers = qs.SelectMany(q => q.Branches.Select(b => b.Teacher)).Distinct().Count();
        log.WriteLine($"distill mot: {rounds} rounds × {teachers} teachers, {sw.Elapsed.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture)} → {result}");
        var summary = new RunSummary { Verb = "distill", Method = "mot", Seconds = Math.Round(sw.Elapsed.TotalSeconds, 1), Output = Path.GetFullPath(result) };
        summary.Write(config.Out);
        return new DistillResult(null, summary);
    }

    public static string Name(DistillMethod m) => m.ToString().ToLowerInvariant();

    public static DistillMethod ParseMethod(string s) => s.ToLowerInvariant() switch
    {
        "compact" => DistillMethod.Compact,
        "uniform" => DistillMethod.Uniform,
        "single" => DistillMethod.Single,
        "mot" => DistillMethod.Mot,
        "mcc" => DistillMethod.Mcc,
        _ => throw new CompactException($"unknown --method '{s}'; use compact, uniform, single, mot or mcc."),
    };

    /// <summary>The config's dataset, built into branches with the student's chat format (see the other overload).</summary>
    public static List<QuestionBranches> Prepare(DistillConfig c, ChatFormat chat, TextWriter log) =>
        Prepare(c.Data, chat, new AnswerSuffix(c.Compact.AnswerSuffix), c.Train.MaxSeqLen, c.Train.Truncation, c.Train.SkipBadLines,
            c.Train.System, c.Teacher, log, c.Compact.ReferenceCode, c.ResolvedMinRationales);

    /// <summary>Loads the dataset and builds every question's branches, reporting what was dropped. Questions whose
    /// branches disagree on the answer span (<see cref="QuestionBranches.Problem"/>) are skipped and counted.</summary>
    public static List<QuestionBranches> Prepare(string data, ChatFormat chat, AnswerSuffix suffix, int maxSeqLen, TruncationMode mode, bool skipBad,
        string? system, string? onlyTeacher, TextWriter output, bool referenceCode = false, int minRationales = 1)
    {
        var (questions, problems) = MultiTeacherData.Load(data, skipBad);
        foreach (var pr in problems.Take(10)) output.WriteLine($"  skipped {pr}");
        if (onlyTeacher is not null && !MultiTeacherData.Teachers(questions).Contains(onlyTeacher))
            throw new CompactException($"--teacher {onlyTeacher} is not in {data}; teachers: {string.Join(", ", MultiTeacherData.Teachers(questions))}.");
        var built = questions.Select(q => BranchBuilder.Build(chat, q, suffix, maxSeqLen, mode, system,
            onlyTeacher is null ? null : r => r.Teacher == onlyTeacher, referenceCode)).ToList();
        int dropped = built.Sum(b => b.Dropped), truncated = built.Sum(b => b.Branches.Count(x => x.Truncated));
        var refused = built.Where(b => b.Problem is not null).ToList();
        foreach (var r in refused.Take(10)) output.WriteLine($"  skipped {r.Problem}");
        var usable = built.Where(b => b.K > 0 && b.Problem is null).ToList();
        var few = usable.Count(b => b.K < minRationales);
        if (few > 0) usable = usable.Where(b => b.K >= minRationales).ToList();
        output.WriteLine($"{data}: {questions.Count} questions, {usable.Sum(b => b.K)} branches from {MultiTeacherData.Teachers(questions).Count} teachers; "
            + $"{truncated} truncated, {dropped} dropped as too long, {built.Count(b => b.K == 0)} questions without a usable branch, "
            + $"{refused.Count} questions skipped for an empty or differing answer span, {few} with fewer than {minRationales} usable rationales (--min-rationales), {problems.Count} bad lines skipped");
        if (usable.Count == 0)
            throw new CompactException(refused.Count > 0 && built.All(b => b.K == 0 || b.Problem is not null)
                ? $"{data}: every question was skipped ({refused[0].Problem}); check the answers and --answer-suffix, or run `compact data check {data} --model MODEL`."
                : few > 0 ? $"{data}: no question has {minRationales} usable rationales; lower --min-rationales or collect more teachers' rationales."
                : $"{data}: no question has a branch that fits --max-seq-len {maxSeqLen}.");
        return usable;
    }

    /// <summary>Among branches built beforehand: the config's teacher only (single), questions without a problem and
    /// with at least min_rationales branches.</summary>
    static List<QuestionBranches> Select(DistillConfig c, IReadOnlyList<QuestionBranches> questions)
    {
        var from = c.Teacher is null ? questions : BranchBuilder.ForTeacher(questions, c.Teacher);
        int min = c.ResolvedMinRationales;
        var usable = from.Where(q => q.Problem is null && q.K >= min).ToList();
        if (usable.Count == 0)
            throw new CompactException(c.Teacher is not null && from.All(q => q.K == 0)
                ? $"teacher {c.Teacher} has no branch among the {questions.Count} questions given; check the teacher's name."
                : $"none of the {questions.Count} questions given has {min} usable rationales; lower min_rationales.");
        return usable;
    }
}
