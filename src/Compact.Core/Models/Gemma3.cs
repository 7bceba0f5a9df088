using System.Text.Json.Nodes;

namespace Compact.Models;

/// <summary>Gemma 3 text decoder (HF `Gemma3ForCausalLM`, model_type `gemma3_text`): what sets it apart from the
/// Llama layout, as config flags that the shared blocks read (Blocks.cs, CausalLM.cs):
/// <list type="bullet">
/// <item>RMSNorm scales by (1 + w), computed in float32 (<see cref="ModelConfig.NormPlusOne"/>);</item>
/// <item>input embeddings times sqrt(hidden_size), the factor rounded to the embedding dtype;</item>
/// <item>q/k RMSNorm per head before RoPE; four norms per block (input, post-attention, pre- and post-feedforward);</item>
/// <item>GeGLU MLP with gelu_pytorch_tanh; attention scaled by query_pre_attn_scalar^−½;</item>
/// <item>sliding-window layers (key visible when q − k &lt; sliding_window) with RoPE base rope_local_base_freq and no
/// scaling; full layers with rope_theta and rope_scaling; layer kinds from layer_types, else from
/// sliding_window_pattern (layer i is full when (i + 1) % pattern == 0);</item>
/// <item>optional final-logit and attention-score soft-capping (cap·tanh(x/cap)); tied head by default.</item>
/// </list>
/// Defaults are those of transformers' Gemma3TextConfig.</summary>
public static class Gemma3
{
    public const string FullAttention = "full_attention";
    public const string SlidingAttention = "sliding_attention";
    public const int DefaultSlidingWindowPattern = 6;

    /// <summary>Gemma 3 names its activation hidden_activation (hidden_act is the older Gemma 1 key).</summary>
    public static string Activation(JsonObject o, string source)
    {
        var act = o["hidden_activation"]?.GetValue<string>() ?? o["hidden_act"]?.GetValue<string>() ?? "gelu_pytorch_tanh";
        if (act is not ("gelu_pytorch_tanh" or "gelu_tanh"))
            throw new CompactException($"{source}: hidden_activation '{act}' is not supported for Gemma 3 (only gelu_pytorch_tanh).");
        return "gelu_pytorch_tanh";
    }

    /// <summary>Adds the Gemma 3 fields of config.json to a config parsed by <see cref="ModelConfig.Parse"/>.</summary>
    public static ModelConfig Parse(ModelConfig c, JsonObject o, string source)
    {
        double? OptD(string k) => o[k] is JsonValue v && v.TryGetValue<double>(out var x) ? x : null;
        int? OptI(string k) => o[k] is JsonValue v && v.TryGetValue<int>(out var x) ? x : null;
        int window = OptI("sliding_window") ?? 4096;
        if (window <= 0) throw new CompactException($"{source}: sliding_window must be positive (got {window}).");
        int? pattern = OptI("sliding_window_pattern") ?? OptI("_sliding_window_pattern");
        IReadOnlyList<LayerKind> kinds;
        if (o["layer_types"] is JsonArray lt)
            kinds = ModelConfig.ParseLayerTypes(lt, c.NumLayers, source);
        else
        {
            int p = pattern ?? DefaultSlidingWindowPattern;
            if (p <= 0) throw new CompactException($"{source}: sliding_window_pattern must be positive (got {p}).");
            kinds = KindsFromPattern(c.NumLayers, p);
        }
        var scaling = c.RopeScaling;
        if (scaling is not null && scaling.Type != "linear")
            throw new CompactException($"{source}: rope_scaling type '{scaling.Type}' is not supported for Gemma 3 (only linear, as in its 4B+ models).");
        return c with
        {
            NormPlusOne = true,
            ScaleEmbeddings = true,
            SandwichNorms = true,
            QkNorm = true,
            QueryPreAttnScalar = OptD("query_pre_attn_scalar") ?? 256,
            SlidingWindow = window,
            SlidingWindowPattern = pattern,
            LayerTypes = kinds,
            RopeTheta = OptD("rope_theta") ?? 1_000_000,
            RopeLocalTheta = OptD("rope_local_base_freq") ?? 10_000,
            FinalLogitSoftcap = OptD("final_logit_softcapping"),
            AttnLogitSoftcap = OptD("attn_logit_softcapping"),
        };
    }

    /// <summary>Layer i is full attention when (i + 1) % pattern == 0, else sliding (Gemma3TextConfig).</summary>
    public static LayerKind[] KindsFromPattern(int layers, int pattern) =>
        Enumerable.Range(0, layers).Select(i => (i + 1) % pattern == 0 ? LayerKind.FullAttention : LayerKind.SlidingAttention).ToArray();

    /// <summary>A Gemma 3 config with the given shape and everything else as in the released models.</summary>
    public static ModelConfig Config(int vocab, int hidden, int intermediate, int layers, int heads, int kvHeads, int headDim,
        int slidingWindow, int maxPositions, double queryPreAttnScalar = 256, int pattern = DefaultSlidingWindowPattern) =>
        Presets.Base(ModelFamily.Gemma3, vocab, hidden, intermediate, layers, heads, kvHeads, headDim,
            theta: 1_000_000, tie: true, eps: 1e-6, maxPos: maxPositions) with
        {
            RopeLocalTheta = 10_000,
            QkNorm = true,
            HiddenAct = "gelu_pytorch_tanh",
            NormPlusOne = true,
            ScaleEmbeddings = true,
            SandwichNorms = true,
            QueryPreAttnScalar = queryPreAttnScalar,
            SlidingWindow = slidingWindow,
            SlidingWindowPattern = pattern,
            LayerTypes = KindsFromPattern(layers, pattern),
        };

    /// <summary>Writes the Gemma 3 fields into a config.json object built by <see cref="ModelConfig.ToJson"/>.</summary>
    public static void WriteJson(ModelConfig c, JsonObject o)
    {
        o["attention_bias"] = c.QkvBias;
        o.Remove("mlp_bias");
        // An integer in Gemma3TextConfig and in the released config.json files.
        double qpas = c.QueryPreAttnScalar ?? c.HeadDim;
        o["query_pre_attn_scalar"] = qpas == Math.Floor(qpas) ? JsonValue.Create((long)qpas) : ModelConfig.JsonFloat(qpas);
        o["sliding_window"] = c.SlidingWindow;
        if (c.SlidingWindowPattern is { } p) o["sliding_window_pattern"] = p;
        o["layer_types"] = new JsonArray(c.LayerTypes.Select(k => (JsonNode)(k == LayerKind.FullAttention ? FullAttention : SlidingAttention)).ToArray());
        o["rope_local_base_freq"] = ModelConfig.JsonFloat(c.RopeLocalTheta);
        o["final_logit_softcapping"] = c.FinalLogitSoftcap is { } f ? ModelConfig.JsonFloat(f) : null;
        o["attn_logit_softcapping"] = c.AttnLogitSoftcap is { } a ? ModelConfig.JsonFloat(a) : null;
        o["attention_dropout"] = ModelConfig.JsonFloat(0.0);
    }
}
