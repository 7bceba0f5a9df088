using System.CommandLine;
using Compact.Distill;
using Compact.Models;
using Compact.Tokenization;
using Compact.Training;
using Compact.Util;

namespace Compact.Cli.Commands;

/// <summary>COMPACT's own flags, shared by `distill` and `score`.</summary>
public sealed class CompactFlags
{
    public Option<double> BetaMi { get; } = new("--beta-mi") { Description = "β1, weight of the MI-adaptability z-score.", DefaultValueFactory = _ => 1.0 };
    public Option<double> BetaCons { get; } = new("--beta-cons") { Description = "β2, weight of the consensus z-score.", DefaultValueFactory = _ => 1.0 };
    public Option<double> BetaPpl { get; } = new("--beta-ppl") { Description = "β3, weight of the difficulty (NLL) z-score penalty.", DefaultValueFactory = _ => 0.5 };
    public Option<double> Tau { get; } = new("--tau") { Description = "Softmax temperature of the fusion.", DefaultValueFactory = _ => 1.0 };
    public Option<double> Lambda { get; } = new("--lambda") { Description = "Weight of the consistency loss (compact; uniform uses it only when given).", DefaultValueFactory = _ => 0.1 };
    public Option<string> Estimator { get; } = new("--estimator") { Description = "MI estimator: probe (free, from the training forward), exact (teacher-forced answer after every position) or reference (the authors' raw-logit variant).", DefaultValueFactory = _ => "probe" };
    public Option<int> ExactStride { get; } = new("--exact-stride") { Description = "exact estimator: score every s-th rationale position.", DefaultValueFactory = _ => 1 };
    public Option<string[]> Thinking { get; } = new("--thinking-words") { Description = "Thinking words and phrases (default: docs/METHOD.md's list).", AllowMultipleArgumentsPerToken = true };
    public Option<bool> ReferenceCode { get; } = new("--reference-code") { Description = "Reproduce the authors' code: raw chain of thought without answer suffix, loss to the end of the sequence, long sequences cut at the end, tokenizer(answer) probe ids, flat GQA expansion, all-position KL, raw-logit MI summed over the question's padded batch (README: what it does not reproduce)." };
    public Option<string> ScoreMode { get; } = new("--score-mode") { Description = "Where the scores come from: train (the training forward, LoRA dropout as in training, consensus projections included) or eval (a separate dropout-free no-grad pass: deterministic weights, one extra forward per step).", DefaultValueFactory = _ => "train" };
    public Option<bool> NoMi { get; } = new("--no-mi") { Description = "Ablation: drop the MI-adaptability term." };
    public Option<bool> NoCons { get; } = new("--no-cons") { Description = "Ablation: drop the consensus term." };
    public Option<bool> NoPpl { get; } = new("--no-ppl") { Description = "Ablation: drop the difficulty term." };
    public Option<string> Suffix { get; } = new("--answer-suffix") { Description = "Text every target ends with; {answer} is the gold answer.", DefaultValueFactory = _ => AnswerSuffix.Default };

    public Option<string> BatchLayout { get; } = new("--batch-layout") { Description = "How a step's branches are laid out: packed (back to back, positions restarting, no compute on padding), shared (packed, and the K branches of a question compute their common prompt once) or padded (one per row); the same math. --reference-code always pads.", DefaultValueFactory = _ => "shared" };
    public Option[] All => [BetaMi, BetaCons, BetaPpl, Tau, Lambda, Estimator, ExactStride, Thinking, ReferenceCode, ScoreMode, NoMi, NoCons, NoPpl, Suffix, BatchLayout];

    /// <summary>The flags `score` takes: all but --lambda (scores and weights do not depend on the loss).</summary>
    public Option[] Scoring => All.Where(o => o != Lambda).ToArray();

    /// <summary>The flags as COMPACT's typed settings: --no-X sets β_X to 0; --reference-code defaults the estimator to
    /// reference. <paramref name="lambda"/> replaces --lambda's value when given.</summary>
    public CompactConfig Config(ParseResult p, double? lambda = null)
    {
        bool reference = p.GetValue(ReferenceCode);
        var est = p.GetResult(Estimator) is { Implicit: false } || !reference ? CompactOptions.ParseEstimator(p.GetValue(Estimator)!) : MiEstimator.Reference;
        var words = p.GetValue(Thinking);
        var c = new CompactConfig
        {
            BetaMi = p.GetValue(NoMi) ? 0 : p.GetValue(BetaMi),
            BetaCons = p.GetValue(NoCons) ? 0 : p.GetValue(BetaCons),
            BetaPpl = p.GetValue(NoPpl) ? 0 : p.GetValue(BetaPpl),
            Tau = p.GetValue(Tau),
            Lambda = lambda ?? (p.CommandResult.Command.Options.Contains(Lambda) ? p.GetValue(Lambda) : new CompactConfig().Lambda),
            Estimator = est,
            ExactStride = Math.Max(1, p.GetValue(ExactStride)),
            ThinkingWords = words is { Length: > 0 } ? words : Compatibility.DefaultThinkingWords,
            ReferenceCode = reference,
            ScoreMode = CompactOptions.ParseScoreMode(p.GetValue(ScoreMode)!),
            AnswerSuffix = p.GetValue(Suffix)!,
            Layout = CompactOptions.ParseLayout(p.GetValue(BatchLayout)!),
        };
        if (c.ReferenceCode && c.Estimator == MiEstimator.Exact)
            throw new CompactException("--estimator exact teacher-forces the answer suffix, which --reference-code does not use; pick probe or reference.");
        return c;
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

    /// <summary>The command line as one typed run configuration. The direct-average baseline has no consistency term
    /// unless --lambda is given explicitly.</summary>
    public static DistillConfig Config(ParseResult p)
    {
        var method = DistillRun.ParseMethod(p.GetValue(Method)!);
        double? lambda = method == DistillMethod.Uniform && p.GetResult(C.Lambda) is not { Implicit: false } ? 0 : null;
        var so = T.Student(p, p.GetValue(Model)!);
        return new DistillConfig
        {
            Model = p.GetValue(Model)!, Data = p.GetValue(Data)!, Out = p.GetValue(Out)!, Method = method, Teacher = p.GetValue(Teacher),
            MccWeight = p.GetValue(MccWeight), MotRounds = Math.Max(1, p.GetValue(MotRounds)), MinRationales = p.GetValue(MinRationales),
            Seed = p.GetValue(Shared.Seed), Device = so.Device, DType = so.DType,
            Compact = C.Config(p, lambda),
            Lora = so.Full ? null : so.Lora,
            Train = new TrainConfig
            {
                Epochs = p.GetValue(T.Epochs), MaxSteps = p.GetValue(T.MaxSteps), Lr = p.GetValue(T.Lr), BatchSize = p.GetValue(T.BatchSize),
                GradAccum = p.GetValue(T.GradAccum), MaxSeqLen = p.GetValue(T.MaxSeqLen), Truncation = TrainOptions.ParseTruncation(p.GetValue(T.Truncation)!),
                SkipBadLines = p.GetValue(T.SkipBadLines), System = p.GetValue(T.System_), WeightDecay = p.GetValue(T.WeightDecay),
                Schedule = LrSchedule.Parse(p.GetValue(T.Schedule)!), WarmupSteps = p.GetValue(T.Warmup), MinLrRatio = p.GetValue(T.MinLrRatio),
                MaxGradNorm = p.GetValue(T.MaxGradNorm), GradientCheckpointing = so.GradientCheckpointing, SaveEvery = p.GetValue(T.SaveEvery),
                KeepLast = p.GetValue(T.KeepLast), Resume = p.GetValue(T.Resume), StopAfter = p.GetValue(T.StopAfter),
                MaxTokensPerBatch = p.GetValue(MaxTokensPerBatch),
            },
        }.Validate();
    }

    public static int Run(ParseResult p, TextWriter output)
    {
        var config = Config(p);
        output.WriteLine($"compact distill config: {config.ToJsonString(indented: false)}");
        Devices.ConfigureThreads();
        using var cts = TrainOptions.CancelOnCtrlC();
        var r = DistillRun.Run(config, output, new ProgressHost(output), cts.Token, new DistillRunOptions { Charts = Plots.Charts });
        if (config.Method == DistillMethod.Mot) return 0;
        string verb = $"distill {DistillRun.Name(config.Method)}";
        return r.Stopped ? TrainOptions.Stopped(output, verb, r.Train!) : TrainOptions.Done(output, verb, r.Train!, r.Summary!.Output);
    }
}
