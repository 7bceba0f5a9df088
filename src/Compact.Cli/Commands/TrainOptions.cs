using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.IO;
using Compact.Training;
using Compact.Util;

namespace Compact.Cli.Commands;

/// <summary>Defaults that differ between training verbs.</summary>
public sealed record TrainDefaults(double Lr, int BatchSize, int GradAccum, int MaxSeqLen, string Schedule, int? Epochs)
{
    /// <summary>Plain SFT: a common LoRA recipe.</summary>
    public static readonly TrainDefaults Sft = new(2e-4, 4, 1, 2048, "cosine", null);
    /// <summary>METHOD.md's training defaults (the authors' code): lr 1e-5, one question per micro-batch, gradient
    /// accumulation 4, 2560 tokens, no scheduler, 5 epochs.</summary>
    public static readonly TrainDefaults Distill = new(1e-5, 1, 4, 2560, "constant", 5);
}

/// <summary>Flags shared by the training verbs (sft, distill), read into the engine's and the student's records.
/// One instance per verb (defaults differ); each flag is one Option.</summary>
public sealed class TrainOptions(TrainDefaults d)
{
    public Option<int?> Epochs { get; } = new("--epochs") { Description = "Passes over the data (ignored when --max-steps is given).", DefaultValueFactory = _ => d.Epochs };
    public Option<int?> MaxSteps { get; } = new("--max-steps") { Description = "Optimizer steps to run (overrides --epochs)." };
    public Option<double> Lr { get; } = new("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => d.Lr };
    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "Examples (distill: questions) per micro-batch.", DefaultValueFactory = _ => d.BatchSize };
    public Option<int> GradAccum { get; } = new("--grad-accum") { Description = "Micro-batches per optimizer step.", DefaultValueFactory = _ => d.GradAccum };
    public Option<int> LoraR { get; } = new("--lora-r") { Description = "LoRA rank.", DefaultValueFactory = _ => 16 };
    public Option<double> LoraAlpha { get; } = new("--lora-alpha") { Description = "LoRA alpha (scaling = alpha / r).", DefaultValueFactory = _ => 32 };
    public Option<double> LoraDropout { get; } = new("--lora-dropout") { Description = "LoRA dropout.", DefaultValueFactory = _ => 0.1 };
    public Option<string[]> LoraTargets { get; } = new("--lora-targets")
    {
        Description = "Linear layers to adapt (q_proj k_proj v_proj o_proj gate_proj up_proj down_proj).",
        DefaultValueFactory = _ => LoraConfig.AllLinear.ToArray(), AllowMultipleArgumentsPerToken = true,
    };
    public Option<bool> Full { get; } = new("--full") { Description = "Full fine-tuning of every weight instead of LoRA." };
    public Option<int> MaxSeqLen { get; } = new("--max-seq-len") { Description = "Longest training sequence in tokens.", DefaultValueFactory = _ => d.MaxSeqLen };
    public Option<string> Truncation { get; } = new("--truncation") { Description = "Over-long sequences: truncate-start (cut the rationale's start) or drop.", DefaultValueFactory = _ => "truncate-start" };
    public Option<bool> SkipBadLines { get; } = new("--skip-bad-lines") { Description = "Skip (and count) malformed data lines instead of stopping." };
    public Option<double> WeightDecay { get; } = new("--weight-decay") { Description = "AdamW weight decay.", DefaultValueFactory = _ => 0.01 };
    public Option<string> Schedule { get; } = new("--schedule") { Description = "cosine, linear or constant (after warm-up).", DefaultValueFactory = _ => d.Schedule };
    public Option<int> Warmup { get; } = new("--warmup-steps") { Description = "Linear warm-up steps.", DefaultValueFactory = _ => 0 };
    public Option<double> MinLrRatio { get; } = new("--min-lr-ratio") { Description = "Final learning rate as a fraction of the peak.", DefaultValueFactory = _ => 0.0 };
    public Option<double> MaxGradNorm { get; } = new("--max-grad-norm") { Description = "Clip the global gradient norm (0: off).", DefaultValueFactory = _ => 1.0 };
    public Option<int> SaveEvery { get; } = new("--save-every") { Description = "Checkpoint every N steps (0: only at the end).", DefaultValueFactory = _ => 0 };
    public Option<int> KeepLast { get; } = new("--keep-last") { Description = "Checkpoints to keep.", DefaultValueFactory = _ => 2 };
    public Option<bool> Resume { get; } = new("--resume") { Description = "Continue the run in --out from its last checkpoint." };
    public Option<bool> GradientCheckpointing { get; } = new("--gradient-checkpointing") { Description = "Recompute each decoder layer in backward to save memory." };
    public Option<string?> System_ { get; } = new("--system") { Description = "System message for every example." };
    public Option<int?> StopAfter { get; } = new("--stop-after") { Description = "Stop (with a checkpoint) after N steps of this invocation; continue later with --resume.", Hidden = true };

    public Option[] All =>
    [
        Epochs, MaxSteps, Lr, BatchSize, GradAccum, LoraR, LoraAlpha, LoraDropout, LoraTargets, Full, MaxSeqLen, Truncation, SkipBadLines,
        WeightDecay, Schedule, Warmup, MinLrRatio, MaxGradNorm, SaveEvery, KeepLast, Resume, GradientCheckpointing, System_, StopAfter,
        Shared.Seed, Shared.Device, Shared.DType, ConfigFiles.Config,
    ];

    public static TruncationMode ParseTruncation(string s) => s switch
    {
        "truncate-start" or "truncate" => TruncationMode.TruncateStart,
        "drop" => TruncationMode.Drop,
        _ => throw new CompactException($"unknown --truncation '{s}'; use truncate-start or drop."),
    };

    public StudentOptions Student(ParseResult p, string model) => new()
    {
        ModelDir = model,
        Device = p.GetValue(Shared.Device)!,
        DType = p.GetValue(Shared.DType)!,
        Full = p.GetValue(Full),
        Lora = new LoraConfig { Rank = p.GetValue(LoraR), Alpha = p.GetValue(LoraAlpha), Dropout = p.GetValue(LoraDropout), TargetModules = p.GetValue(LoraTargets)! }.Validate(),
        GradientCheckpointing = p.GetValue(GradientCheckpointing),
        Seed = p.GetValue(Shared.Seed),
    };

    public EngineOptions Engine(ParseResult p, string outDir, string title, int microBatch) => new()
    {
        Charts = Util.Plots.Charts,
        OutDir = outDir,
        MicroBatch = microBatch,
        GradAccum = p.GetValue(GradAccum),
        Epochs = p.GetValue(MaxSteps) is null ? p.GetValue(Epochs) : null,
        MaxSteps = p.GetValue(MaxSteps),
        Seed = p.GetValue(Shared.Seed),
        SaveEvery = p.GetValue(SaveEvery),
        KeepLast = p.GetValue(KeepLast),
        Resume = p.GetValue(Resume),
        StopAfter = p.GetValue(StopAfter),
        Title = title,
        Optim = new OptimizerOptions
        {
            Lr = p.GetValue(Lr),
            WeightDecay = p.GetValue(WeightDecay),
            Schedule = LrSchedule.Parse(p.GetValue(Schedule)!),
            WarmupSteps = p.GetValue(Warmup),
            MinLrRatio = p.GetValue(MinLrRatio),
            MaxGradNorm = p.GetValue(MaxGradNorm),
        },
    };

    /// <summary>Ctrl-C once: finish the current step, save a checkpoint, exit; twice: exit at once. Disposing it
    /// removes the handler.</summary>
    public static CtrlC CancelOnCtrlC(string message = "Stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)…") => new(message);

    public sealed class CtrlC : IDisposable
    {
        readonly CancellationTokenSource _cts = new();
        readonly string _message;
        public CancellationToken Token => _cts.Token;

        public CtrlC(string message)
        {
            _message = message;
            Console.CancelKeyPress += OnCancel;
        }

        void OnCancel(object? sender, ConsoleCancelEventArgs e)
        {
            if (_cts.IsCancellationRequested) return;
            e.Cancel = true;
            _cts.Cancel();
            Console.Error.WriteLine(_message);
        }

        public void Dispose()
        {
            Console.CancelKeyPress -= OnCancel;
            _cts.Dispose();
        }
    }

    /// <summary>Prints the resolved configuration (torchtune's habit) and the end-of-run summary files.</summary>
    public static void PrintConfig(TextWriter output, string verb, JsonObject cfg) =>
        output.WriteLine($"compact {verb} config: {cfg.ToJsonString(Compact.Util.Jsonl.Options)}");

    public static int Finish(TextWriter output, string verb, TrainSummary s, string outDir, Func<string> export, string? data = null)
    {
        if (s.Stopped) return Stopped(output, verb, s);
        var result = export();
        (RunSummary.From(verb, s, result) with { Data = data }).Write(outDir);
        return Done(output, verb, s, result);
    }

    /// <summary>A run stopped early with a checkpoint: says how to continue; exit code 130 unless every step was done.</summary>
    public static int Stopped(TextWriter output, string verb, TrainSummary s)
    {
        output.WriteLine($"{verb}: stopped at step {s.Steps} of {s.TotalSteps}; checkpoint {s.Checkpoint}. Run the same command with --resume to continue.");
        return s.Steps < s.TotalSteps ? 130 : 0;
    }

    public static int Done(TextWriter output, string verb, TrainSummary s, string result)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{verb}: {s.Steps} steps, final loss {s.FinalLoss:0.0000}, {s.TokensPerSecond:0} tok/s, {TimeSpan.FromSeconds(s.Seconds):hh\\:mm\\:ss} → {result}"));
        return 0;
    }
}
