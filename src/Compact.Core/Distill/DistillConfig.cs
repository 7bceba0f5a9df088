using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Compact.Training;

namespace Compact.Distill;

/// <summary>Everything one distillation run is (<see cref="DistillRun"/>): saved as run_config.json beside its outputs
/// and read back by this same type (an unknown key is an error). The ablations of COMPACT are fusion weights set to 0
/// (β_MI = 0: no MI-adaptability term, …); the uniform baseline's λ is what is given here (0: no consistency term).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record DistillConfig : IRunConfig
{
    /// <summary>Student model folder (Hugging Face layout).</summary>
    [JsonPropertyName("model")] public required string Model { get; init; }
    /// <summary>Multi-teacher dataset (JSONL, or the authors' JSON list).</summary>
    [JsonPropertyName("data")] public required string Data { get; init; }
    /// <summary>Run folder.</summary>
    [JsonPropertyName("out")] public required string Out { get; init; }
    [JsonPropertyName("method")] public DistillMethod Method { get; init; } = DistillMethod.Compact;
    /// <summary>The teacher of <see cref="DistillMethod.Single"/> (and only of it).</summary>
    [JsonPropertyName("teacher")] public string? Teacher { get; init; }
    /// <summary>MCC-KD: weight a of the symmetric KL on the answer span.</summary>
    [JsonPropertyName("mcc_weight")] public double MccWeight { get; init; } = 0.1;
    /// <summary>MoT: merge rounds; the step or epoch budget is split across them.</summary>
    [JsonPropertyName("mot_rounds")] public int MotRounds { get; init; } = 2;
    /// <summary>Questions with fewer usable rationales are skipped (and counted); null: 1 for single, else 2.</summary>
    [JsonPropertyName("min_rationales")] public int? MinRationales { get; init; }
    [JsonPropertyName("seed")] public long Seed { get; init; }
    [JsonPropertyName("device")] public string Device { get; init; } = "cpu";
    [JsonPropertyName("dtype")] public string DType { get; init; } = "float32";
    [JsonPropertyName("compact")] public CompactConfig Compact { get; init; } = new();
    [JsonPropertyName("train")] public TrainConfig Train { get; init; } = new();
    /// <summary>LoRA's shape; null: full fine-tuning of every weight.</summary>
    [JsonPropertyName("lora")] public LoraConfig? Lora { get; init; } = new();

    public const string FileName = Engine.RunConfigFile;

    /// <summary>Settings that may differ between a run and its resumption: where the run lives, the device, and how
    /// often and how long this invocation saves and runs.</summary>
    public static readonly IReadOnlySet<string> ResumeTolerant =
        new HashSet<string> { "out", "device", "train.resume", "train.save_every", "train.keep_last", "train.stop_after" };

    [JsonIgnore] public IReadOnlySet<string> MayDifferOnResume => ResumeTolerant;

    public int ResolvedMinRationales => MinRationales ?? (Method == DistillMethod.Single ? 1 : 2);

    /// <summary>Checks what the type cannot: method-specific settings, ranges. Throws a one-line error naming the setting.</summary>
    public DistillConfig Validate()
    {
        if (Method == DistillMethod.Single && Teacher is null) throw new CompactException("--method single needs --teacher NAME.");
        if (Method != DistillMethod.Single && Teacher is not null) throw new CompactException("--teacher is only for --method single.");
        if (MinRationales is < 1) throw new CompactException("--min-rationales must be 1 or more.");
        if (MotRounds < 1) throw new CompactException($"--mot-rounds must be at least 1 (got {MotRounds}).");
        if (Method == DistillMethod.Mot && Lora is null) throw new CompactException("--method mot trains LoRA branches; it cannot be combined with --full.");
        if (Compact.ReferenceCode && Compact.Estimator == MiEstimator.Exact)
            throw new CompactException("--estimator exact teacher-forces the answer suffix, which --reference-code does not use; pick probe or reference.");
        if (Method == DistillMethod.Mot && Train.MaxTokensPerBatch is not null)
            throw new CompactException("--max-tokens-per-batch is not available with --method mot (it trains on one teacher's rationales at a time); use --batch-size.");
        if (Compact.ExactStride < 1) throw new CompactException($"--exact-stride must be at least 1 (got {Compact.ExactStride}).");
        Lora?.Validate();
        Train.Validate();
        return this;
    }

    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, RunJson.Indented)!.AsObject();

    public string ToJsonString(bool indented = true) => JsonSerializer.Serialize(this, indented ? RunJson.Indented : RunJson.Line);

    /// <summary>Reads a run_config.json written by <see cref="Save"/>.</summary>
    public static DistillConfig Load(string path) => RunJson.ReadFile<DistillConfig>(path);

    public static DistillConfig Parse(string json, string source = Engine.RunConfigFile)
    {
        try { return JsonSerializer.Deserialize<DistillConfig>(json, RunJson.Indented) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new CompactException($"{source}: not a distillation config ({e.Message.Split(". ")[0].TrimEnd('.')})."); }
    }

    /// <summary>The config of the run in <paramref name="runDir"/>, or null when its run_config.json is absent or is not a
    /// distillation config (an sft run's, an older run's).</summary>
    public static DistillConfig? TryLoad(string runDir)
    {
        var path = Path.Combine(runDir, FileName);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<DistillConfig>(File.ReadAllText(path), RunJson.Indented); }
        catch (JsonException) { return null; }
    }

    public void Save(string runDir) => RunJson.WriteFile(Path.Combine(runDir, FileName), this);

    public StudentOptions StudentOptions() => new()
    {
        ModelDir = Model, Device = Device, DType = DType, Full = Lora is null, Lora = Lora ?? new LoraConfig(),
        GradientCheckpointing = Train.GradientCheckpointing, Seed = Seed,
    };

    public EngineOptions EngineOptions(Action<int>? onStep = null) => new()
    {
        OutDir = Out, MicroBatch = Train.BatchSize, GradAccum = Train.GradAccum,
        Epochs = Train.MaxSteps is null ? Train.Epochs : null, MaxSteps = Train.MaxSteps, Seed = Seed,
        SaveEvery = Train.SaveEvery, KeepLast = Train.KeepLast, Resume = Train.Resume, StopAfter = Train.StopAfter,
        MaxTokensPerBatch = Train.MaxTokensPerBatch,
        Title = $"distill {Method.ToString().ToLowerInvariant()}", OnStep = onStep,
        Optim = new OptimizerOptions
        {
            Lr = Train.Lr, WeightDecay = Train.WeightDecay, Schedule = Train.Schedule, WarmupSteps = Train.WarmupSteps,
            MinLrRatio = Train.MinLrRatio, MaxGradNorm = Train.MaxGradNorm,
        },
    };
}

/// <summary>The optimisation and data settings of a run. Defaults are METHOD.md's (the authors' code): lr 1e-5, one
/// question per micro-batch, gradient accumulation 4, 2560 tokens, constant schedule, 5 epochs.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record TrainConfig
{
    /// <summary>Passes over the data (ignored when MaxSteps is given).</summary>
    [JsonPropertyName("epochs")] public int? Epochs { get; init; } = 5;
    [JsonPropertyName("max_steps")] public int? MaxSteps { get; init; }
    [JsonPropertyName("lr")] public double Lr { get; init; } = 1e-5;
    /// <summary>Questions per micro-batch.</summary>
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 1;
    /// <summary>Micro-batches by tokens instead of BatchSize questions: questions (all their branches) packed longest
    /// first into micro-batches of at most this many tokens.</summary>
    [JsonPropertyName("max_tokens_per_batch")] public int? MaxTokensPerBatch { get; init; }
    [JsonPropertyName("grad_accum")] public int GradAccum { get; init; } = 4;
    [JsonPropertyName("max_seq_len")] public int MaxSeqLen { get; init; } = 2560;
    [JsonPropertyName("truncation")] public TruncationMode Truncation { get; init; } = TruncationMode.TruncateStart;
    [JsonPropertyName("skip_bad_lines")] public bool SkipBadLines { get; init; }
    /// <summary>System message for every example.</summary>
    [JsonPropertyName("system")] public string? System { get; init; }
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.01;
    [JsonPropertyName("schedule")] public ScheduleKind Schedule { get; init; } = ScheduleKind.Constant;
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; }
    [JsonPropertyName("min_lr_ratio")] public double MinLrRatio { get; init; }
    [JsonPropertyName("max_grad_norm")] public double MaxGradNorm { get; init; } = 1.0;
    [JsonPropertyName("gradient_checkpointing")] public bool GradientCheckpointing { get; init; }
    /// <summary>Checkpoint every N steps (0: only at the end).</summary>
    [JsonPropertyName("save_every")] public int SaveEvery { get; init; }
    [JsonPropertyName("keep_last")] public int KeepLast { get; init; } = 2;
    /// <summary>Continue the run in Out from its last checkpoint.</summary>
    [JsonPropertyName("resume")] public bool Resume { get; init; }
    /// <summary>Stop (with a checkpoint) after N steps of this invocation.</summary>
    [JsonPropertyName("stop_after")] public int? StopAfter { get; init; }

    public TrainConfig Validate()
    {
        if (BatchSize < 1) throw new CompactException($"--batch-size must be at least 1 (got {BatchSize}).");
        if (GradAccum < 1) throw new CompactException($"--grad-accum must be at least 1 (got {GradAccum}).");
        if (MaxTokensPerBatch is < 1) throw new CompactException($"--max-tokens-per-batch must be at least 1 (got {MaxTokensPerBatch}).");
        return this;
    }
}

/// <summary>COMPACT's settings (METHOD defaults): fusion weights β and temperature τ, consistency weight λ, the MI
/// estimator, where the scores come from, and the answer suffix every target ends with.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CompactConfig
{
    /// <summary>β1, weight of the MI-adaptability z-score (0: the no-MI ablation).</summary>
    [JsonPropertyName("beta_mi")] public double BetaMi { get; init; } = 1.0;
    /// <summary>β2, weight of the consensus z-score (0: the no-consensus ablation).</summary>
    [JsonPropertyName("beta_cons")] public double BetaCons { get; init; } = 1.0;
    /// <summary>β3, weight of the difficulty z-score penalty (0: the no-difficulty ablation).</summary>
    [JsonPropertyName("beta_ppl")] public double BetaPpl { get; init; } = 0.5;
    [JsonPropertyName("tau")] public double Tau { get; init; } = 1.0;
    /// <summary>λ, weight of the consistency loss.</summary>
    [JsonPropertyName("lambda")] public double Lambda { get; init; } = 0.1;
    [JsonPropertyName("estimator")] public MiEstimator Estimator { get; init; } = MiEstimator.Probe;
    [JsonPropertyName("exact_stride")] public int ExactStride { get; init; } = 1;
    [JsonPropertyName("thinking_words")] public IReadOnlyList<string> ThinkingWords { get; init; } = Compatibility.DefaultThinkingWords;
    [JsonPropertyName("reference_code")] public bool ReferenceCode { get; init; }
    [JsonPropertyName("score_mode")] public ScoreMode ScoreMode { get; init; } = ScoreMode.Train;
    [JsonPropertyName("answer_suffix")] public string AnswerSuffix { get; init; } = Distill.AnswerSuffix.Default;
    /// <summary>How a step's branches are laid out: packed (back to back, no compute on padding) or padded; the same math.</summary>
    [JsonPropertyName("batch_layout")] public BatchLayout Layout { get; init; } = BatchLayout.Shared;

    public FusionWeights Fusion => new(BetaMi, BetaCons, BetaPpl, Tau);

    public CompactOptions Options() => new()
    {
        Fusion = Fusion, Lambda = Lambda, Estimator = Estimator, ExactStride = Math.Max(1, ExactStride),
        ThinkingWords = ThinkingWords, ReferenceCode = ReferenceCode, ScoreMode = ScoreMode, Layout = Layout,
    };
}
