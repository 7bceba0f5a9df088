using System.Text.Json;
using System.Text.Json.Nodes;

namespace Compact.Models;

/// <summary>The decoder families Compact runs. They share one decoder (Models/CausalLM.cs, Models/Blocks.cs); the
/// differences are flags derived here: Qwen2 has q/k/v biases, Qwen3 has per-head q/k RMSNorm, Llama 3 has rope
/// scaling, Gemma 3 has the Gemma-specific flags parsed in Models/Gemma3.cs.</summary>

/// <summary>Attention kind of one layer (HF `layer_types`).</summary>
public enum LayerKind { FullAttention, SlidingAttention }

/// <summary>HF `rope_scaling`. Type "llama3" (Llama 3.1/3.2) rescales inv_freq by wavelength; "linear" divides
/// positions by Factor.</summary>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4,
    int OriginalMaxPositionEmbeddings = 8192);

/// <summary>An immutable view of a Hugging Face config.json, validated and with derived values
/// (head_dim, bias flags) computed once by <see cref="Parse"/>.</summary>
public sealed record ModelConfig
{
    public required string Architecture { get; init; }
    public required ModelFamily Family { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 4096;
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000;
    public RopeScaling? RopeScaling { get; init; }
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Bias on q_proj, k_proj, v_proj.</summary>
    public bool QkvBias { get; init; }
    /// <summary>Bias on o_proj.</summary>
    public bool OutBias { get; init; }
    public bool MlpBias { get; init; }
    /// <summary>Qwen3: RMSNorm over head_dim on queries and keys before rotary embedding.</summary>
    public bool QkNorm { get; init; }
    public string TorchDtype { get; init; } = "float32";
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }
    public double InitializerRange { get; init; } = 0.02;

    // Gemma-style options (all off for Llama/Qwen/Mistral; Gemma3.Parse sets them).
    /// <summary>MLP activation: "silu" (SwiGLU) or "gelu_pytorch_tanh" (GeGLU with the tanh approximation).</summary>
    public string HiddenAct { get; init; } = "silu";
    /// <summary>RMSNorm scales by (1 + weight) in float32 (Gemma) instead of weight in the input dtype.</summary>
    public bool NormPlusOne { get; init; }
    /// <summary>Input embeddings are multiplied by sqrt(hidden_size), rounded to the embedding dtype.</summary>
    public bool ScaleEmbeddings { get; init; }
    /// <summary>Four norms per block: post_attention_layernorm on the attention output, and
    /// pre_/post_feedforward_layernorm around the MLP.</summary>
    public bool SandwichNorms { get; init; }
    /// <summary>Gemma's query_pre_attn_scalar: attention scores are scaled by its inverse square root instead of
    /// head_dim's.</summary>
    public double? QueryPreAttnScalar { get; init; }
    /// <summary>Sliding-window size of the SlidingAttention layers: key k is visible from query q when q − k &lt; window.</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>sliding_window_pattern as read (kept to write config.json back); LayerTypes is what the model uses.</summary>
    public int? SlidingWindowPattern { get; init; }
    /// <summary>Per-layer attention kind; empty means every layer is full attention.</summary>
    public IReadOnlyList<LayerKind> LayerTypes { get; init; } = [];
    /// <summary>RoPE base of the sliding layers: Gemma's rope_local_base_freq; rope_theta for Mistral/Qwen.</summary>
    public double RopeLocalTheta { get; init; } = 10000;
    /// <summary>RoPE scaling of the sliding layers: none for Gemma; rope_scaling for Mistral/Qwen.</summary>
    public RopeScaling? RopeLocalScaling { get; init; }
    /// <summary>Final logits become cap·tanh(logits/cap) when set.</summary>
    public double? FinalLogitSoftcap { get; init; }
    /// <summary>Gemma 3's attn_logit_softcapping, read and written back but never applied: transformers' Gemma 3
    /// attention does not use it (only Gemma 2's did; transformers 5.17 checked in Fixtures/hf/gemma3, which sets 3.0),
    /// and released Gemma 3 configs set it null.</summary>
    public double? AttnLogitSoftcap { get; init; }

    public LayerKind KindOf(int layer) => LayerTypes.Count == 0 ? LayerKind.FullAttention : LayerTypes[layer];
    public bool HasSlidingLayers => LayerTypes.Contains(LayerKind.SlidingAttention);
    /// <summary>The factor applied to q·kᵀ: query_pre_attn_scalar^−½ (Gemma) or head_dim^−½.</summary>
    public double AttentionScale => 1.0 / Math.Sqrt(QueryPreAttnScalar ?? HeadDim);

    public int QueryWidth => NumHeads * HeadDim;
    public int KvWidth => NumKvHeads * HeadDim;
    public int KvGroups => NumHeads / NumKvHeads;

    public static ModelConfig Load(string dir)
    {
        var path = Path.Combine(dir, "config.json");
        if (!File.Exists(path))
            throw new CompactException($"{dir}: no config.json. Point --model at a Hugging Face checkpoint folder, or create one with `compact init`.");
        return Parse(File.ReadAllText(path), path);
    }

    public static ModelConfig Parse(string json, string source = "config.json")
    {
        JsonObject o;
        try { o = JsonNode.Parse(json) as JsonObject ?? throw new CompactException($"{source}: must be a JSON object."); }
        catch (JsonException e) { throw new CompactException($"{source}: not valid JSON ({e.Message})."); }
        o = RopeParameters.ToLegacy(o, source);
        ModelConfigValidation.CheckRaw(o, source);

        string arch = o["architectures"] is JsonArray a && a.Count > 0 ? a[0]!.GetValue<string>() : ArchFromModelType(o["model_type"]?.GetValue<string>());
        var family = ModelFamilies.ByArchitecture(arch)?.Family
            ?? throw new CompactException($"{source}: architecture '{arch}' is not supported; supported: {string.Join(", ", ModelFamilies.All.Select(f => f.Architecture))}.");

        int Req(string k) => o[k] is JsonValue v && v.TryGetValue<int>(out var x) ? x
            : throw new CompactException($"{source}: missing integer \"{k}\" required for {arch}.");
        int? OptInt(string k) => o[k] is JsonValue v && v.TryGetValue<int>(out var x) ? x : null;
        double OptD(string k, double d) => o[k] is JsonValue v && v.TryGetValue<double>(out var x) ? x : d;
        bool OptB(string k, bool d) => o[k] is JsonValue v && v.TryGetValue<bool>(out var x) ? x : d;

        int hidden = Req("hidden_size"), heads = Req("num_attention_heads");
        int kv = OptInt("num_key_value_heads") ?? heads;
        int headDim = OptInt("head_dim") ?? (heads > 0 ? hidden / heads : 0);
        string act = family == ModelFamily.Gemma3 ? Gemma3.Activation(o, source) : o["hidden_act"]?.GetValue<string>() ?? "silu";
        if (family != ModelFamily.Gemma3 && act != "silu")
            throw new CompactException($"{source}: hidden_act '{act}' is not supported for {arch} (only silu, as in Llama/Qwen/Mistral).");
        if (heads <= 0 || kv <= 0 || heads % kv != 0)
            throw new CompactException($"{source}: num_attention_heads ({heads}) must be a positive multiple of num_key_value_heads ({kv}).");
        if (headDim <= 0 || headDim % 2 != 0)
            throw new CompactException($"{source}: head_dim {headDim} must be positive and even (rotary embedding rotates pairs).");
        if (!o.ContainsKey("head_dim") && hidden % heads != 0)
            throw new CompactException($"{source}: hidden_size {hidden} is not divisible by num_attention_heads {heads}; give head_dim explicitly.");

        bool attnBias = OptB("attention_bias", false);
        var eos = o["eos_token_id"] switch
        {
            JsonArray arr => arr.Select(x => x!.GetValue<int>()).ToList(),
            JsonValue v when v.TryGetValue<int>(out var x) => [x],
            _ => new List<int>(),
        };

        var cfg = new ModelConfig
        {
            Architecture = arch,
            Family = family,
            VocabSize = Req("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = Req("intermediate_size"),
            NumLayers = Req("num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = kv,
            HeadDim = headDim,
            MaxPositionEmbeddings = OptInt("max_position_embeddings") ?? 4096,
            RmsNormEps = OptD("rms_norm_eps", 1e-6),
            RopeTheta = OptD("rope_theta", 10000),
            RopeScaling = ParseRopeScaling(o["rope_scaling"], source),
            // Gemma3TextConfig's default is tied; the others default to untied.
            TieWordEmbeddings = OptB("tie_word_embeddings", family == ModelFamily.Gemma3),
            // Qwen2 always has q/k/v biases and no o_proj bias; Llama/Qwen3/Mistral use attention_bias for all four.
            QkvBias = family == ModelFamily.Qwen2 || attnBias,
            OutBias = family != ModelFamily.Qwen2 && attnBias,
            MlpBias = OptB("mlp_bias", false),
            QkNorm = family is ModelFamily.Qwen3 or ModelFamily.Gemma3,
            HiddenAct = act,
            TorchDtype = o["torch_dtype"]?.GetValue<string>() ?? o["dtype"]?.GetValue<string>() ?? "float32",
            BosTokenId = OptInt("bos_token_id"),
            EosTokenIds = eos,
            PadTokenId = OptInt("pad_token_id"),
            InitializerRange = OptD("initializer_range", 0.02),
        };
        if (cfg.VocabSize <= 0 || cfg.NumLayers <= 0 || cfg.IntermediateSize <= 0 || hidden <= 0)
            throw new CompactException($"{source}: vocab_size, hidden_size, intermediate_size and num_hidden_layers must be positive.");
        return family == ModelFamily.Gemma3 ? Gemma3.Parse(cfg, o, source) : WithSlidingWindow(cfg, o, source);
    }

    /// <summary>Mistral: every layer slides when sliding_window is set (Mistral-7B-v0.1; later versions set null).
    /// Qwen2/Qwen3: with use_sliding_window, layers from max_window_layers on slide. layer_types, when given, decides.
    /// Their sliding layers use the same RoPE as the full ones.</summary>
    static ModelConfig WithSlidingWindow(ModelConfig c, JsonObject o, string source)
    {
        int? window = o["sliding_window"] is JsonValue v && v.TryGetValue<int>(out var w) ? w : null;
        bool use = c.Family switch
        {
            ModelFamily.Mistral => window is not null,
            ModelFamily.Qwen2 or ModelFamily.Qwen3 => window is not null && o["use_sliding_window"] is JsonValue u && u.TryGetValue<bool>(out var b) && b,
            _ => false,
        };
        if (!use) return c;
        if (window <= 0) throw new CompactException($"{source}: sliding_window must be positive (got {window}).");
        int first = c.Family == ModelFamily.Mistral ? 0
            : o["max_window_layers"] is JsonValue mw && mw.TryGetValue<int>(out var m) ? m : c.NumLayers;
        var kinds = o["layer_types"] is JsonArray lt ? ParseLayerTypes(lt, c.NumLayers, source)
            : Enumerable.Range(0, c.NumLayers).Select(i => i >= first ? LayerKind.SlidingAttention : LayerKind.FullAttention).ToArray();
        return c with { SlidingWindow = window, LayerTypes = kinds, RopeLocalTheta = c.RopeTheta, RopeLocalScaling = c.RopeScaling };
    }

    /// <summary>HF `layer_types`: one "full_attention" or "sliding_attention" per layer.</summary>
    public static LayerKind[] ParseLayerTypes(JsonArray lt, int layers, string source)
    {
        if (lt.Count != layers)
            throw new CompactException($"{source}: layer_types has {lt.Count} entries but num_hidden_layers is {layers}.");
        return lt.Select((x, i) => (x as JsonValue)?.TryGetValue<string>(out var k) == true ? k : null).Select((k, i) => k switch
        {
            "full_attention" => LayerKind.FullAttention,
            "sliding_attention" => LayerKind.SlidingAttention,
            _ => throw new CompactException($"{source}: layer_types[{i}] is '{k}'; expected full_attention or sliding_attention."),
        }).ToArray();
    }

    static string ArchFromModelType(string? modelType) =>
        ModelFamilies.ByModelType(modelType)?.Architecture ?? modelType ?? "(none: config.json has no architectures or model_type)";

    static RopeScaling? ParseRopeScaling(JsonNode? n, string source)
    {
        if (n is not JsonObject r) return null;
        var type = (r["rope_type"] ?? r["type"])?.GetValue<string>() ?? "default";
        double D(string k, double d) => r[k] is JsonValue v && v.TryGetValue<double>(out var x) ? x : d;
        return type switch
        {
            "default" => null,
            "llama3" => new RopeScaling("llama3", D("factor", 8), D("low_freq_factor", 1), D("high_freq_factor", 4),
                (int)D("original_max_position_embeddings", 8192)),
            "linear" => new RopeScaling("linear", D("factor", 1)),
            _ => throw new CompactException($"{source}: rope_scaling type '{type}' is not supported (supported: default, linear, llama3)."),
        };
    }

    /// <summary>The config.json Hugging Face transformers would write for this model.</summary>
    public JsonObject ToJson()
    {
        var modelType = ModelFamilies.Of(Family).ModelType;
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(Architecture),
            ["model_type"] = modelType,
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumLayers,
            ["num_attention_heads"] = NumHeads,
            ["num_key_value_heads"] = NumKvHeads,
            ["head_dim"] = HeadDim,
            [Family == ModelFamily.Gemma3 ? "hidden_activation" : "hidden_act"] = HiddenAct,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["rms_norm_eps"] = JsonFloat(RmsNormEps),
            ["rope_theta"] = JsonFloat(RopeTheta),
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["initializer_range"] = JsonFloat(InitializerRange),
            ["torch_dtype"] = TorchDtype,
            ["use_cache"] = true,
        };
        if (Family != ModelFamily.Qwen2) o["attention_bias"] = QkvBias;
        if (Family is ModelFamily.Llama) o["mlp_bias"] = MlpBias;
        if (Family is ModelFamily.Qwen2 or ModelFamily.Qwen3)
        {
            o["use_sliding_window"] = SlidingWindow is not null;
            o["sliding_window"] = SlidingWindow;
            int firstSliding = Enumerable.Range(0, NumLayers).FirstOrDefault(i => KindOf(i) == LayerKind.SlidingAttention, NumLayers);
            o["max_window_layers"] = firstSliding;
        }
        if (Family is ModelFamily.Mistral) o["sliding_window"] = SlidingWindow;
        if (RopeScaling is { } rs)
            o["rope_scaling"] = rs.Type == "llama3"
                ? new JsonObject
                {
                    ["rope_type"] = "llama3", ["factor"] = JsonFloat(rs.Factor), ["low_freq_factor"] = JsonFloat(rs.LowFreqFactor),
                    ["high_freq_factor"] = JsonFloat(rs.HighFreqFactor), ["original_max_position_embeddings"] = rs.OriginalMaxPositionEmbeddings,
                }
                : new JsonObject { ["rope_type"] = rs.Type, ["factor"] = JsonFloat(rs.Factor) };
        else o["rope_scaling"] = null;
        if (BosTokenId is { } b) o["bos_token_id"] = b;
        if (EosTokenIds.Count == 1) o["eos_token_id"] = EosTokenIds[0];
        else if (EosTokenIds.Count > 1) o["eos_token_id"] = new JsonArray(EosTokenIds.Select(x => (JsonNode)x).ToArray());
        if (PadTokenId is { } p) o["pad_token_id"] = p;
        if (Family == ModelFamily.Gemma3) Gemma3.WriteJson(this, o);
        return o;
    }

    /// <summary>A float field as Python's json writes it: always with a fraction or exponent ("1000000.0",
    /// "1e-06"), so that readers that type fields by their JSON form (transformers' config classes, strict
    /// parsers) see a float, never an integer.</summary>
    public static JsonNode JsonFloat(double x)
    {
        if (double.IsNaN(x) || double.IsInfinity(x)) throw new ArgumentOutOfRangeException(nameof(x), "config floats must be finite");
        var s = x.ToString("R", System.Globalization.CultureInfo.InvariantCulture).Replace("E", "e");
        if (!s.Contains('.') && !s.Contains('e')) s += ".0";
        return JsonNode.Parse(s)!;
    }

    public long ParameterCount()
    {
        long d = HiddenSize, attn = d * QueryWidth + 2 * d * KvWidth + QueryWidth * d
            + (QkvBias ? QueryWidth + 2 * KvWidth : 0) + (OutBias ? d : 0) + (QkNorm ? 2 * HeadDim : 0);
        long mlp = 3 * d * IntermediateSize + (MlpBias ? 2 * IntermediateSize + d : 0);
        long layer = attn + mlp + (SandwichNorms ? 4 : 2) * d;
        return (long)VocabSize * d * (TieWordEmbeddings ? 1 : 2) + NumLayers * layer + d;
    }
}
