using System.Text.Json.Nodes;

namespace Compact.Models;

/// <summary>Checks a config.json's values before anything is derived from them or allocated: types, positive sizes,
/// eps and theta, known dtypes, rope_scaling's shape, token ids inside the vocabulary. Each failure is one sentence
/// naming the file, the field, the value and what it must be.</summary>
public static class ModelConfigValidation
{
    /// <summary>Sizes that, when present, must be positive integers (with a ceiling far above any real model, so a
    /// typo such as 400000000 is refused here instead of by the allocator).</summary>
    static readonly (string Key, long Max)[] Sizes =
    [
        ("vocab_size", 16_000_000), ("hidden_size", 1 << 17), ("intermediate_size", 1 << 20), ("num_hidden_layers", 4096),
        ("num_attention_heads", 4096), ("num_key_value_heads", 4096), ("head_dim", 8192), ("max_position_embeddings", int.MaxValue),
    ];

    static readonly HashSet<string> DTypes = ["float32", "float16", "bfloat16", "fp32", "fp16", "bf16", "f32", "f16"];

    public static void CheckRaw(JsonObject o, string source)
    {
        if (o["architectures"] is { } archs)
        {
            if (archs is not JsonArray a || a.Any(x => x is not JsonValue v || !v.TryGetValue<string>(out _)))
                throw new CompactException($"{source}: \"architectures\" must be a list of class names such as [\"Qwen2ForCausalLM\"] (got {archs.ToJsonString()}).");
        }
        if (o["model_type"] is { } mt && (mt is not JsonValue mv || !mv.TryGetValue<string>(out _)))
            throw new CompactException($"{source}: \"model_type\" must be a string such as \"qwen2\" (got {mt.ToJsonString()}).");

        foreach (var (key, max) in Sizes)
        {
            if (!o.ContainsKey(key) || o[key] is null) continue;
            if (o[key] is not JsonValue v || !v.TryGetValue<long>(out var x))
                throw new CompactException($"{source}: \"{key}\" must be a positive integer (got {o[key]!.ToJsonString()}).");
            if (x <= 0 || x > max)
                throw new CompactException($"{source}: \"{key}\" is {x}; it must be a positive integer{(x > max ? $" no larger than {max}" : "")}. Check that this config.json belongs to the weights.");
        }

        Positive(o, "rms_norm_eps", source, "1e-6");
        Positive(o, "rope_theta", source, "10000");
        if (o["initializer_range"] is JsonValue ir && ir.TryGetValue<double>(out var r) && !(r >= 0 && double.IsFinite(r)))
            throw new CompactException($"{source}: \"initializer_range\" is {r}; it must be a finite number ≥ 0 (e.g. 0.02).");

        foreach (var key in new[] { "torch_dtype", "dtype" })
        {
            if (o[key] is not { } d) continue;
            if (d is not JsonValue dv || !dv.TryGetValue<string>(out var ds) || !DTypes.Contains(ds.ToLowerInvariant()))
                throw new CompactException($"{source}: \"{key}\" is {d.ToJsonString()}; use float32, bfloat16 or float16.");
        }

        foreach (var key in new[] { "tie_word_embeddings", "attention_bias", "mlp_bias" })
            if (o[key] is { } b && (b is not JsonValue bv || !bv.TryGetValue<bool>(out _)))
                throw new CompactException($"{source}: \"{key}\" must be true or false (got {b.ToJsonString()}).");

        if (o["hidden_act"] is { } act && (act is not JsonValue av || !av.TryGetValue<string>(out _)))
            throw new CompactException($"{source}: \"hidden_act\" must be a string such as \"silu\" (got {act.ToJsonString()}).");

        if (o["rope_scaling"] is { } rs)
        {
            if (rs is not JsonObject ro)
                throw new CompactException($"{source}: \"rope_scaling\" must be an object such as {{\"rope_type\": \"linear\", \"factor\": 2.0}} or null (got {rs.ToJsonString()}).");
            var type = ro["rope_type"] ?? ro["type"];
            if (type is not null && (type is not JsonValue tv || !tv.TryGetValue<string>(out _)))
                throw new CompactException($"{source}: rope_scaling's \"rope_type\" must be a string such as \"llama3\" (got {type.ToJsonString()}).");
            foreach (var k in new[] { "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings" })
                if (ro[k] is { } f && (f is not JsonValue fv || !fv.TryGetValue<double>(out var fx) || !(fx > 0) || !double.IsFinite(fx)))
                    throw new CompactException($"{source}: rope_scaling's \"{k}\" is {f.ToJsonString()}; it must be a positive number.");
        }

        long? vocab = o["vocab_size"] is JsonValue vv && vv.TryGetValue<long>(out var vs) ? vs : null;
        foreach (var key in new[] { "bos_token_id", "eos_token_id", "pad_token_id" })
        {
            if (o[key] is not { } t) continue;
            var ids = t is JsonArray arr ? arr.ToList() : [t];
            foreach (var id in ids)
            {
                if (id is not JsonValue iv || !iv.TryGetValue<long>(out var x))
                    throw new CompactException($"{source}: \"{key}\" must be a token id (an integer{(key == "eos_token_id" ? " or a list of them" : "")}), got {t.ToJsonString()}.");
                if (x < 0 || (vocab is { } n && x >= n))
                    throw new CompactException($"{source}: \"{key}\" {x} is outside the vocabulary (0 … {(vocab is { } m ? m - 1 : 0)}); fix the id or vocab_size.");
            }
        }
    }

    static void Positive(JsonObject o, string key, string source, string example)
    {
        if (!o.ContainsKey(key) || o[key] is null) return;
        if (o[key] is not JsonValue v || !v.TryGetValue<double>(out var x) || !(x > 0) || !double.IsFinite(x))
            throw new CompactException($"{source}: \"{key}\" is {o[key]!.ToJsonString()}; it must be a positive number (e.g. {example}).");
    }
}
