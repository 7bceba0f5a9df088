using System.CommandLine;
using System.Text.Json.Nodes;
using Compact.Distill;
using Compact.Models;
using Compact.Tokenization;
using Compact.Training;
using Compact.Util;

namespace Compact.Cli.Commands;

/// <summary>COMPACT's own flags, shared by `distill` and `score`.</summary>
public sealed class CompactFlags
{
    public readonly Option<double> BetaMi = new("--beta-mi") { Description = "β1, weight of the MI-adaptability z-score.", DefaultValueFactory = _ => 1.0 };
    public readonly Option<double> BetaCons = new("--beta-cons") { Description = "β2, weight of the consensus z-score.", DefaultValueFactory = _ => 1.0 };
    public readonly Option<double> BetaPpl = new("--beta-ppl") { Description = "β3, weight of the difficulty (NLL) z-score penalty.", DefaultValueFactory = _ => 0.5 };
    public readonly Option<double> Tau = new("--tau") { Description = "Softmax temperature of the fusion.", DefaultValueFactory = _ => 1.0 };
    public readonly Option<double> Lambda = new("--lambda") { Description = "Weight of the consistency loss (compact; uniform uses it only when given).", DefaultValueFactory = _ => 0.1 };
    public readonly Option<string> Estimator = new("--estimator") { Description = "MI estimator: probe (free, from the training forward), exact (teacher-forced answer after every position) or reference (the authors' raw-logit variant).", DefaultValueFactory = _ => "probe" };
    public readonly Option<int> ExactStride = new("--exact-stride") { Description = "exact estimator: score every s-th rationale position.", DefaultValueFactory = _ => 1 };
    public readonly Option<string[]> Thinking = new("--thinking-words") { Description = "Thinking words and phrases (default: METHOD.md's list).", AllowMultipleArgumentsPerToken = true };
    public readonly Option<bool> ReferenceCode = new("--reference-code") { Description = "Reproduce the authors' code: raw chain of thought without answer suffix, loss to the end of the sequence, long sequences cut at the end, tokenizer(answer) probe ids, flat GQA expansion, all-position KL, raw-logit MI summed over the question's padded batch (README: what it does not reproduce)." };
    public readonly Option<string> ScoreMode = new("--score-mode") { Description = "Where the scores come from: train (the training forward, LoRA dropout as in training, consensus projections included) or eval (a separate dropout-free no-grad pass: deterministic weights, one extra forward per step).", DefaultValueFactory = _ => "train" };
    public readonly Option<bool> NoMi = new("--no-mi") { Description = "Ablation: drop the MI-adaptability term." };
    public readonly Option<bool> NoCons = new("--no-cons") { Description = "Ablation: drop the consensus term." };
    public readonly Option<bool> NoPpl = new("--no-ppl") { Description = "Ablation: drop the difficulty term." };
    public readonly Option<string> Suffix = new("--answer-suffix") { Description = "Text every target ends with; {answer} is the gold answer.", DefaultValueFactory = _ => AnswerSuffix.Default };

    public readonly Option<string> BatchLayout = new("--batch-layout") { Description = "How a step's branches are laid out: packed (back to back, positions restarting, no compute on padding) or padded (one per row); the same math. --reference-code always pads.", DefaultValueFactory = _ => "packed" };
    public Option[] All => [BetaMi, BetaCons, BetaPpl, Tau, Lambda, Estimator, ExactStride, Thinking, ReferenceCode, ScoreMode, NoMi, NoCons, NoPpl, Suffix, BatchLayout];

    public CompactOptions Options(ParseResult p)
    {
        bool reference = p.GetValue(ReferenceCode);
        var est = p.GetResult(Estimator) is { Implicit: false } || !reference ? CompactOptions.ParseEstimator(p.GetValue(Estimator)!) : MiEstimator.Reference;
        var words = p.GetValue(Thinking);
        if (reference && est == MiEstimator.Exact)
            throw new CompactException("--estimator exact teacher-forces the answer suffix, which --reference-code does not use; pick probe or reference.");
        return new CompactOptions
        {
            Fusion = new FusionWeights(p.GetValue(NoMi) ? 0 : p.GetValue(BetaMi), p.GetValue(NoCons) ? 0 : p.GetValue(BetaCons),
                p.GetValue(NoPpl) ? 0 : p.GetValue(BetaPpl), p.GetValue(Tau)),
            Lambda = p.GetValue(Lambda),
            Estimator = est,
            ExactStride = Math.Max(1, p.GetValue(ExactStride)),
            ThinkingWords = words is { Length: > 0 } ? words : Compatibility.DefaultThinkingWords,
            ReferenceCode = reference,
            ScoreMode = CompactOptions.ParseScoreMode(p.GetValue(ScoreMode)!),
            Layout = CompactOptions.ParseLayout(p.GetValue(BatchLayout)!),
        };
    }
}

public static class DistillCommand
{
    static readonly Option<string> Model = Shared.Model();
    static readonly Option<string> Data = new("--data") { Description = "Multi-teacher dataset (JSONL, or the authors' JSON list).", Required = true };
    static readonly Option<string> Out = Shared.Out("Run folder: config, metrics (with every question's scores and weights), TensorBoard, loss.png, teacher_weights.png, checkpoints, adapter/ or model/.");
    static readonly Option<string> Method = new("--method") { Description = "compact, uniform, single, mot or mcc.", DefaultValueFactory = _ => "compact" };
    static readonly Option<string?> Teacher = new("--teacher") { Description = "The teacher for --method single." };
    static readonly Option<double> MccWeight = new("--mcc-weight") { Description = "MCC-KD: weight a of the symmetric KL on the answer span.", DefaultValueFactory = _ => 0.1 };
    static readonly Option<int?> MinRationales = new("--min-rationales")
    {
        Description = "Skip (and count) questions with fewer usable rationales than this; default 2 for compact, uniform, mot and mcc, 1 for single.",
        Validators = { r => { if (r.GetValueOrDefault<int?>() is < 1) r.AddError("--min-rationales must be 1 or more."); } },
    };
    static readonly Option<int?> MaxTokensPerBatch = new("--max-tokens-per-batch") { Description = "Micro-batches by tokens instead of --batch-size questions: questions (all their branches) packed longest first into micro-batches of at most this many tokens; the bins' order is shuffled every epoch. Not with --method mot." };
    static readonly Option<int> MotRounds = new("--mot-rounds") { Description = "MoT: merge rounds; the budget (--epochs or --max-steps) is split across them.", DefaultValueFactory = _ => 2 };
    static readonly TrainOptions T = new(TrainDefaults.Distill);
    static readonly CompactFlags C = new();

    public static Command Create()
    {
        var c = new Command("distill", "Multi-teacher CoT distillation: COMPACT (default) or a baseline (uniform, single, mot, mcc) and ablations.")
        {
            Model, Data, Out, Method, Teacher, MccWeight, MotRounds, MinRationales, MaxTokensPerBatch,
        };
        foreach (var o in C.All) c.Add(o);
        foreach (var o in T.All) c.Add(o);
        c.SetAction(p => Run(p, p.InvocationConfiguration.Output));
        return c;
    }

    public static DistillMethod ParseMethod(string s) => s.ToLowerInvariant() switch
    {
        "compact" => DistillMethod.Compact,
        "uniform" => DistillMethod.Uniform,
        "single" => DistillMethod.Single,
        "mot" => DistillMethod.Mot,
        "mcc" => DistillMethod.Mcc,
        _ => throw new CompactException($"unknown --method '{s}'; use compact, uniform, single, mot or mcc."),
    };

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

    public static int Run(ParseResult p, TextWriter output)
    {
        var outDir = p.GetValue(Out)!;
        var method = ParseMethod(p.GetValue(Method)!);
        var teacher = p.GetValue(Teacher);
        if (method == DistillMethod.Single && teacher is null) throw new CompactException("--method single needs --teacher NAME.");
        if (method != DistillMethod.Single && teacher is not null) throw new CompactException("--teacher is only for --method single.");
        var cfg = ConfigFiles.Resolved(p);
        TrainOptions.PrintConfig(output, "distill", cfg);
        Devices.ConfigureThreads();
        var options = C.Options(p);
        // The direct-average baseline has no consistency term unless --lambda is given explicitly.
        if (method == DistillMethod.Uniform && p.GetResult(C.Lambda) is not { Implicit: false }) options = options with { Lambda = 0 };
        using var student = Student.Load(T.Student(p, p.GetValue(Model)!));
        var questions = Prepare(p.GetValue(Data)!, student.Chat, new AnswerSuffix(p.GetValue(C.Suffix)!), p.GetValue(T.MaxSeqLen),
            TrainOptions.ParseTruncation(p.GetValue(T.Truncation)!), p.GetValue(T.SkipBadLines), p.GetValue(T.System_), teacher, output, options.ReferenceCode,
            p.GetValue(MinRationales) ?? Teach.Rationales.DefaultMin(method.ToString().ToLowerInvariant()));
        var eo = T.Engine(p, outDir, $"distill {method.ToString().ToLowerInvariant()}", p.GetValue(T.BatchSize)) with { MaxTokensPerBatch = p.GetValue(MaxTokensPerBatch) };
        if (eo.MaxTokensPerBatch is not null && method == DistillMethod.Mot)
            throw new CompactException("--max-tokens-per-batch is not available with --method mot (it trains on one teacher's rationales at a time); use --batch-size.");
        using var cts = TrainOptions.CancelOnCtrlC();
        var progress = new ProgressHost(output);
        if (method == DistillMethod.Mot)
        {
            // The budget is split across the rounds: --max-steps / rounds steps, or --epochs / rounds epochs, per branch.
            int rounds = Math.Max(1, p.GetValue(MotRounds));
            int? perBranch = eo.MaxSteps is { } ms ? Math.Max(1, (ms + rounds - 1) / rounds) : null;
            var mo = new MotRunner.Options
            {
                OutDir = outDir, Rounds = rounds, StepsPerBranch = perBranch, EpochsPerBranch = Math.Max(1, (eo.Epochs ?? 1) / rounds),
                Engine = eo with { MicroBatch = Math.Max(1, eo.MicroBatch * eo.GradAccum), GradAccum = 1 },
            };
            Directory.CreateDirectory(outDir);
            IO.AtomicFile.WriteAllText(Path.Combine(outDir, Engine.RunConfigFile), cfg.ToJsonString(Compact.Util.Jsonl.Indented));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var result = MotRunner.Run(student, questions, mo, output, progress, cts.Token);
            output.WriteLine($"distill mot: {mo.Rounds} rounds × {questions.SelectMany(q => q.Branches.Select(b => b.Teacher)).Distinct().Count()} teachers, {sw.Elapsed:hh\\:mm\\:ss} → {result}");
            IO.AtomicFile.WriteAllText(Path.Combine(outDir, "summary.json"), new JsonObject { ["verb"] = "distill", ["method"] = "mot", ["output"] = Path.GetFullPath(result) }.ToJsonString(Compact.Util.Jsonl.Options));
            return 0;
        }
        var objective = new CompactObjective(student.Model, student.Tokenizer, options);
        var recipe = new DistillRecipe(student, questions, objective, method, p.GetValue(MccWeight), p.GetValue(Shared.Seed));
        var summary = Engine.Run(recipe, eo, cfg, output, progress, cts.Token);
        var curves = TeacherCurves.Plot(outDir);
        return TrainOptions.Finish(output, $"distill {method.ToString().ToLowerInvariant()}", summary, outDir, () => student.ExportFinal(outDir),
            new JsonObject { ["method"] = method.ToString().ToLowerInvariant(), ["teacher_weights_png"] = curves });
    }
}

public static class ScoreCommand
{
    static readonly Option<string> Model = Shared.Model();
    static readonly Option<string> Data = new("--data") { Description = "Multi-teacher dataset.", Required = true };
    static readonly Option<string> Out = new("--out") { Description = "Scores JSONL to write (one line per question).", Required = true };
    static readonly Option<int> MaxSeqLen = new("--max-seq-len") { Description = "Longest branch in tokens.", DefaultValueFactory = _ => 2560 };
    static readonly Option<string?> System_ = new("--system") { Description = "System message for every example." };
    static readonly CompactFlags C = new();

    public static Command Create()
    {
        var c = new Command("score", "Compatibility scores and teacher weights of a student for every question, without training, with a per-teacher summary.")
        {
            Model, Shared.Adapter, Data, Out, MaxSeqLen, System_, Shared.Device, Shared.DType,
        };
        foreach (var o in C.All) c.Add(o);
        c.SetAction(p => Run(p, p.InvocationConfiguration.Output));
        return c;
    }

    public static int Run(ParseResult p, TextWriter output)
    {
        Devices.ConfigureThreads();
        using var m = Generation.LoadedModel.Load(p.GetValue(Model)!, p.GetValue(Shared.Adapter), p.GetValue(Shared.Device)!, p.GetValue(Shared.DType)!);
        var options = C.Options(p);
        var questions = DistillCommand.Prepare(p.GetValue(Data)!, m.Chat, new AnswerSuffix(p.GetValue(C.Suffix)!), p.GetValue(MaxSeqLen),
            TruncationMode.TruncateStart, false, p.GetValue(System_), null, output, options.ReferenceCode);
        var objective = new CompactObjective(m.Model, m.Tokenizer, options);
        var summary = Scoring.Run(objective, questions, p.GetValue(Out)!, new ProgressHost(output));
        Tables.Write(output, $"Compatibility of {m.Name} with each teacher", Scoring.Headers, Scoring.Rows(summary));
        output.WriteLine($"Scores for {questions.Count} questions → {p.GetValue(Out)}");
        output.WriteLine(options.ScoreMode == Distill.ScoreMode.Train
            ? "Score mode: train (model in training mode, LoRA dropout on as in a training step; --score-mode eval for dropout-free scores)."
            : "Score mode: eval (dropout-free no-grad pass, as training with --score-mode eval computes them).");
        return 0;
    }
}
