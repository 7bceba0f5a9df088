using System.Text.Json;
using Compact.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Compact.Models;

/// <summary>`model.*` of a HF decoder checkpoint.</summary>
public sealed class DecoderModel : nn.Module
{
    public Embedding embed_tokens;
    public ModuleList<DecoderLayer> layers;
    public RMSNorm norm;

    public DecoderModel(ModelConfig c, ScalarType dtype, Device device) : base("DecoderModel")
    {
        embed_tokens = new Embedding(c.VocabSize, c.HiddenSize, dtype, device);
        layers = new ModuleList<DecoderLayer>(Enumerable.Range(0, c.NumLayers).Select(i => new DecoderLayer(c, i, dtype, device)).ToArray());
        norm = new RMSNorm(c, c.HiddenSize, dtype, device);
        RegisterComponents();
    }
}

/// <summary>Result of a forward pass. Hidden is the final hidden state after the final norm (B, T, D);
/// LayerOutputs (when asked) holds the embedding output followed by each layer's output, like HF's
/// hidden_states except that the last entry is the un-normalised last layer.</summary>
public sealed record DecoderOutput(Tensor Hidden, IReadOnlyList<Tensor>? LayerOutputs) : IDisposable
{
    public void Dispose()
    {
        Hidden.Dispose();
        if (LayerOutputs is not null) foreach (var t in LayerOutputs) t.Dispose();
    }
}

/// <summary>A decoder-only causal LM in the layout of HF LlamaForCausalLM / Qwen2ForCausalLM /
/// Qwen3ForCausalLM / MistralForCausalLM: `model.embed_tokens`, `model.layers.N.*`, `model.norm`, `lm_head`
/// (absent when embeddings are tied).</summary>
public sealed class CausalLM : nn.Module
{
    public DecoderModel model;
    public Linear? lm_head;

    public ModelConfig Config { get; }
    public ScalarType DType { get; }
    public Device Device { get; }
    /// <summary>Recompute each decoder layer in backward instead of storing its activations.</summary>
    public bool GradientCheckpointing { get; set; }
    /// <summary>Source of LoRA dropout masks (Training/Lora.cs attaches adapters to it).</summary>
    public DropoutStream Dropout { get; } = new();
    /// <summary>The dtype each tensor had in the checkpoint it was loaded from (used to save back byte-identical).</summary>
    public IReadOnlyDictionary<string, ScalarType> SourceDTypes { get; private set; } = new Dictionary<string, ScalarType>();
    /// <summary>The config.json text the model was loaded from, kept so that saving preserves unknown keys.</summary>
    public string? SourceConfigJson { get; private set; }

    readonly Tensor _invFreq;
    readonly Tensor? _invFreqLocal;

    public CausalLM(ModelConfig config, ScalarType dtype, Device device) : base("CausalLM")
    {
        Config = config; DType = dtype; Device = device;
        model = new DecoderModel(config, dtype, device);
        if (!config.TieWordEmbeddings) lm_head = new Linear(config.HiddenSize, config.VocabSize, false, dtype, device);
        RegisterComponents();
        // inv_freq is derived from the config: kept out of the state dict (HF registers it non-persistent).
        var inv = Rotary.InverseFrequencies(config.HeadDim, config.RopeTheta, config.RopeScaling).Select(x => (float)x).ToArray();
        _invFreq = device.type == DeviceType.META ? torch.empty(inv.Length) : torch.tensor(inv, device: device);
        if (config.HasSlidingLayers)
        {
            // Sliding layers: Gemma 3 gives them their own base, never scaled; Mistral/Qwen the global RoPE.
            var local = Rotary.InverseFrequencies(config.HeadDim, config.RopeLocalTheta, config.RopeLocalScaling).Select(x => (float)x).ToArray();
            _invFreqLocal = device.type == DeviceType.META ? torch.empty(local.Length) : torch.tensor(local, device: device);
        }
    }

    public IList<DecoderLayer> Layers => model.layers;

    /// <summary>The output projection: lm_head.weight, or the embedding matrix when tied. The training losses and
    /// scores multiply by it directly (chunked, without (N, V) logits), which would skip a final soft-cap: a model
    /// whose config sets final_logit_softcapping is refused there (generation and evaluation use <see cref="Logits"/>).</summary>
    public Tensor OutputWeight => Config.FinalLogitSoftcap is null ? lm_head?.weight ?? model.embed_tokens.weight
        : throw new CompactException($"{Config.Architecture} with final_logit_softcapping ({Config.FinalLogitSoftcap}): training and scoring do not support logit soft-capping yet; generate and eval do. Use a model without it (Gemma 3 270M/1B have none).");

    /// <summary>Runs the decoder. inputIds (B, T) int64. attentionMask (B, P+T) with 1 for tokens and 0 for padding
    /// (covers cached positions too); null means no padding. positionIds (B, T) default to the count of real
    /// tokens before each position (HF generate's convention), so left padding does not shift positions.
    /// segments, for packed rows (several sequences back to back, no cache): a query sees only the earlier keys of
    /// its own segment and, for a segment that continues a shared prefix, that prefix (computed segment by segment); positionIds must then
    /// restart per segment.</summary>
    public DecoderOutput Forward(Tensor inputIds, Tensor? attentionMask = null, KvCache? cache = null,
        Tensor? positionIds = null, bool outputLayers = false, IReadOnlyList<Segment>? segments = null)
    {
        using var scope = NewDisposeScope();
        long b = inputIds.shape[0], t = inputIds.shape[1];
        long past = cache?.Length ?? 0, s = past + t;
        if (attentionMask is not null && (attentionMask.shape[0] != b || attentionMask.shape[1] != s))
            throw new ArgumentException($"attention mask must be (B, past+T) = ({b}, {s}), got ({string.Join(", ", attentionMask.shape)})");
        if (segments is not null && (cache is not null || attentionMask is not null || positionIds is null))
            throw new ArgumentException("packed rows (segments) take their own position ids, and neither a cache nor an attention mask");

        if (positionIds is null)
        {
            if (attentionMask is not null)
            {
                var pos = attentionMask.to(ScalarType.Int64).cumsum(-1).sub(1).clamp_min(0);   // (B, S)
                positionIds = pos.narrow(1, past, t);
            }
            else positionIds = torch.arange(past, s, dtype: ScalarType.Int64, device: Device).unsqueeze(0).expand(b, t);
        }
        var (cos, sin) = Rotary.Tables(_invFreq, positionIds.to(Device), DType);

        Tensor? mask = null;
        bool causal = false;
        if (segments is not null) { }                                                                // per segment, in Attention
        else if (attentionMask is null)
        {
            if (past == 0) causal = t > 1;
            else if (t > 1) mask = CausalMask(t, past, Device).unsqueeze(0).unsqueeze(0);           // (1, 1, T, S)
        }
        else if (past == 0 && IsRightPadded(attentionMask))
        {
            // Right padding: real queries never see the trailing pads under a plain causal mask.
            causal = t > 1;
        }
        else
        {
            var keyOk = attentionMask.to(ScalarType.Bool).to(Device).unsqueeze(1).unsqueeze(1);      // (B, 1, 1, S)
            var m = CausalMask(t, past, Device).unsqueeze(0).unsqueeze(0).logical_and(keyOk);      // (B, 1, T, S)
            // A query on a padding position would see no key at all (NaN softmax): let it see itself.
            var self = torch.eye(t, dtype: ScalarType.Bool, device: Device);
            var diag = torch.cat([torch.zeros([t, past], dtype: ScalarType.Bool, device: Device), self], 1);
            mask = m.logical_or(diag.unsqueeze(0).unsqueeze(0));
        }
        AttentionContext? sliding = null;
        if (_invFreqLocal is not null)
        {
            // Sliding-window layers: key j visible from query i (cache indices) when i − j < window, on top of the
            // causal/padding mask. The cache keeps every position; the mask is what bounds the window.
            var (lcos, lsin) = Rotary.Tables(_invFreqLocal, positionIds.to(Device), DType);
            if (segments is null)
            {
                var qi = torch.arange(past, s, device: Device).unsqueeze(1);                         // (T, 1)
                var ki = torch.arange(0, s, device: Device).unsqueeze(0);                            // (1, S)
                var window = qi.sub(ki).lt(Config.SlidingWindow!.Value).unsqueeze(0).unsqueeze(0);   // (1, 1, T, S)
                var full = mask ?? CausalMask(t, past, Device).unsqueeze(0).unsqueeze(0);
                sliding = new AttentionContext(lcos, lsin, full.logical_and(window), false, cache);
            }
            else sliding = new AttentionContext(lcos, lsin, null, false, null) { Segments = segments, Window = Config.SlidingWindow };
        }
        var ctx = new AttentionContext(cos, sin, mask, causal, cache, sliding) { Segments = segments };

        var x = model.embed_tokens.forward(inputIds.to(Device));                                     // (B, T, D)
        // Gemma: times sqrt(hidden), the factor rounded to the model dtype first (as HF's embed_scale buffer).
        if (Config.ScaleEmbeddings) x = x.mul(torch.tensor(Math.Sqrt(Config.HiddenSize), dtype: DType, device: Device));
        var outs = outputLayers ? new List<Tensor> { x } : null;
        bool ckpt = GradientCheckpointing && training && torch.is_grad_enabled() && cache is null;
        var shared = ckpt ? new LayerCheckpoint.SharedContext(ctx, model.layers.Count) : null;
        // With frozen embeddings (LoRA) the first layer's input needs grad, or its checkpoint node would not join
        // the graph and the adapters inside would get no gradient (PEFT's enable_input_require_grads).
        if (shared is not null && !x.requires_grad) x = x.requires_grad_(true);
        foreach (var layer in model.layers)
        {
            x = shared is not null ? LayerCheckpoint.Run(layer, x, shared, Dropout) : layer.Forward(x, ctx);
            outs?.Add(x);
        }
        cache?.Advance(t);
        var hidden = model.norm.forward(x);
        if (outs is not null) foreach (var o in outs) o.MoveToOuterDisposeScope();
        return new DecoderOutput(hidden.MoveToOuterDisposeScope(), outs);
    }

    /// <summary>Logits for the given hidden states (…, D) → (…, V), in the model dtype; soft-capped
    /// (cap·tanh(z/cap)) when the config sets final_logit_softcapping.</summary>
    public Tensor Logits(Tensor hidden)
    {
        var z = lm_head is not null ? lm_head.forward(hidden) : F.linear(hidden, model.embed_tokens.weight);
        if (Config.FinalLogitSoftcap is not { } cap) return z;
        using (z) return z.div(cap).tanh_().mul_(cap);
    }

    /// <summary>(T, P+T) boolean: query i (absolute position P+i) may see keys 0..P+i.</summary>
    public static Tensor CausalMask(long t, long past, Device device)
    {
        using var scope = NewDisposeScope();
        var q = torch.arange(past, past + t, device: device).unsqueeze(1);
        var k = torch.arange(0, past + t, device: device).unsqueeze(0);
        return k.le(q).MoveToOuterDisposeScope();
    }

    /// <summary>True when every row is ones followed by zeros.</summary>
    public static bool IsRightPadded(Tensor attentionMask)
    {
        if (attentionMask.shape[1] < 2) return true;
        using var scope = NewDisposeScope();
        var m = attentionMask.to(ScalarType.Int64);
        return m.narrow(1, 0, m.shape[1] - 1).ge(m.narrow(1, 1, m.shape[1] - 1)).all().item<bool>();
    }

    // ---------------------------------------------------------------- creation, loading, saving

    /// <summary>Fills every weight as HF's _init_weights does: normal(0, initializer_range) for linear and
    /// embedding weights, zeros for biases, ones for norms. Deterministic for a given seed.</summary>
    public void InitializeRandom(long seed)
    {
        using var gen = new Generator((ulong)seed, torch.CPU);
        using var _ = torch.no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal) || name.EndsWith("layernorm.weight", StringComparison.Ordinal))
                p.fill_(Config.NormPlusOne ? 0.0 : 1.0);                  // Gemma stores w of (1 + w)
            else if (name.EndsWith(".bias", StringComparison.Ordinal)) p.zero_();
            else
            {
                using var r = torch.normal(0, Config.InitializerRange, p.shape, dtype: ScalarType.Float32, generator: gen);
                p.copy_(r);
            }
        }
    }

    /// <summary>Loads a HF checkpoint folder strictly by name (IO/StrictLoad.cs): every parameter must be present
    /// with its exact shape and no unknown tensor may be left over. Tied embeddings load whichever way they were
    /// stored: as model.embed_tokens.weight (lm_head.weight, if also there, is ignored), or once as lm_head.weight
    /// with or without a safetensors metadata alias for model.embed_tokens.weight. Legacy rotary inv_freq buffers
    /// are ignored.</summary>
    public static CausalLM Load(string dir, Device? device = null, ScalarType? dtype = null)
    {
        var cfg = ModelConfig.Load(dir);
        using var reader = CheckpointReader.Open(dir);
        WeightChecks.RequireConsistent(cfg, reader, exact: false);
        var m = new CausalLM(cfg, dtype ?? ScalarType.Float32, device ?? torch.CPU);
        try
        {
            m.LoadWeights(reader);
            m.SourceConfigJson = File.ReadAllText(Path.Combine(dir, "config.json"));
            return m;
        }
        catch { m.Dispose(); throw; }
    }

    public const string EmbedKey = "model.embed_tokens.weight", HeadKey = "lm_head.weight";

    public void LoadWeights(CheckpointReader reader)
    {
        var expected = named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        bool tied = Config.TieWordEmbeddings;
        // Tied, stored only as lm_head.weight and without an alias: that tensor is the embedding.
        bool headIsEmbedding = tied && !reader.Contains(EmbedKey) && reader.Contains(HeadKey);
        SourceDTypes = StrictLoad.Into(reader, expected,
            $"checkpoint does not match its config.json ({Config.Architecture})",
            "Check that config.json belongs to these weights.",
            keyOf: headIsEmbedding ? k => k == HeadKey ? EmbedKey : k : null,
            ignorable: k => (tied && k == HeadKey) || k.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal));
    }

    /// <summary>The tensors a HF checkpoint of this model holds, in the given dtype (default: each tensor's
    /// source dtype, else the config's torch_dtype).</summary>
    public IReadOnlyList<TensorSource> CheckpointTensors(ScalarType? dtype = null, Func<string, Tensor, Tensor>? transform = null)
    {
        var cfgType = ParseDType(Config.TorchDtype) ?? DType;
        var list = new List<TensorSource>();
        foreach (var (name, p) in named_parameters())
        {
            var target = dtype ?? (SourceDTypes.TryGetValue(name, out var s) ? s : cfgType);
            var param = p;
            list.Add(new TensorSource(name, target, p.shape, () =>
            {
                using var _ = torch.no_grad();
                var t = transform is null ? param.detach() : transform(name, param);
                return t.to(target, torch.CPU).contiguous();
            }, DisposeAfterWrite: true));
        }
        return list;
    }

    /// <summary>Writes config.json and the weights (sharded above maxShardBytes) into dir.</summary>
    public void Save(string dir, ScalarType? dtype = null, long maxShardBytes = CheckpointWriter.DefaultMaxShardBytes,
        Func<string, Tensor, Tensor>? transform = null)
    {
        Directory.CreateDirectory(dir);
        CheckpointWriter.Save(dir, CheckpointTensors(dtype, transform), maxShardBytes);
        string json;
        if (SourceConfigJson is not null && dtype is null) json = SourceConfigJson;
        else
        {
            var o = Config.ToJson();
            if (dtype is { } d) o["torch_dtype"] = DTypeName(d);
            json = o.ToJsonString(Compact.Util.Jsonl.Indented);
        }
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), json);
    }

    public static ScalarType? ParseDType(string? name) => name?.ToLowerInvariant() switch
    {
        "float32" or "fp32" or "f32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float16" or "fp16" or "f16" => ScalarType.Float16,
        _ => null,
    };

    public static string DTypeName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        _ => t.ToString().ToLowerInvariant(),
    };

    protected override void Dispose(bool disposing)
    {
        if (disposing) { _invFreq.Dispose(); _invFreqLocal?.Dispose(); }
        base.Dispose(disposing);
    }
}
