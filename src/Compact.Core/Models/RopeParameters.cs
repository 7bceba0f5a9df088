using System.Globalization;
using System.Text.Json.Nodes;

namespace Compact.Models;

/// <summary>transformers 5 writes RoPE as one <c>rope_parameters</c> object instead of <c>rope_theta</c> +
/// <c>rope_scaling</c> (+ Gemma's <c>rope_local_base_freq</c>): flat (<c>{"rope_type": "llama3", "rope_theta": 5e5,
/// "factor": 8, …}</c>) or, for models with sliding and full layers, one entry per layer type
/// (<c>{"full_attention": {…}, "sliding_attention": {…}}</c>). <see cref="ToLegacy"/> rewrites such a config into the
/// older keys, which the rest of the parser reads, so that both generations of config.json load the same model.</summary>
public static class RopeParameters
{
    public const string Key = "rope_parameters";
    static readonly string[] Factors = ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"];

    /// <summary>The config with <c>rope_parameters</c> folded into rope_theta / rope_scaling / rope_local_base_freq
    /// (a copy; the input is not changed). A config without it is returned as it is. Legacy keys that are also
    /// present must agree with it.</summary>
    public static JsonObject ToLegacy(JsonObject o, string source)
    {
        if (o[Key] is null) return o;
        if (o[Key] is not JsonObject rp)
            throw new CompactException($"{source}: \"{Key}\" must be an object such as {{\"rope_type\": \"default\", \"rope_theta\": 10000.0}} (got {o[Key]!.ToJsonString()}).");
        var c = (JsonObject)o.DeepClone();
        c.Remove(Key);
        bool perLayer = rp.ContainsKey("full_attention") || rp.ContainsKey("sliding_attention");
        if (!perLayer)
        {
            Fold(c, Check(rp, Key, source), source);
            return c;
        }
        foreach (var (k, _) in rp)
            if (k is not ("full_attention" or "sliding_attention"))
                throw new CompactException($"{source}: \"{Key}\" has an entry '{k}'; per-layer RoPE parameters are keyed full_attention and sliding_attention.");
        if (rp["full_attention"] is { } full) Fold(c, Check(full, $"{Key}.full_attention", source), source);
        if (rp["sliding_attention"] is { } sliding)
        {
            var s = Check(sliding, $"{Key}.sliding_attention", source);
            if (Type(s) != "default")
                throw new CompactException($"{source}: {Key}.sliding_attention has rope_type '{Type(s)}'; only default RoPE is supported on sliding layers.");
            // Gemma 3's name for the sliding layers' base; models whose sliding layers share the full ones' RoPE agree with it.
            if (s["rope_theta"] is { } t) Agree(c, "rope_local_base_freq", t, source);
        }
        return c;
    }

    static string Type(JsonObject p) => (p["rope_type"] ?? p["type"]) is JsonValue v && v.TryGetValue<string>(out var t) ? t : "default";

    static JsonObject Check(JsonNode n, string name, string source)
    {
        if (n is not JsonObject p)
            throw new CompactException($"{source}: \"{name}\" must be an object such as {{\"rope_type\": \"default\", \"rope_theta\": 10000.0}} (got {n.ToJsonString()}).");
        var type = p["rope_type"] ?? p["type"];
        if (type is not null && (type is not JsonValue tv || !tv.TryGetValue<string>(out _)))
            throw new CompactException($"{source}: {name}'s \"rope_type\" must be a string such as \"llama3\" (got {type.ToJsonString()}).");
        foreach (var k in Factors.Append("rope_theta"))
            if (p[k] is { } f && (f is not JsonValue fv || !fv.TryGetValue<double>(out var x) || !(x > 0) || !double.IsFinite(x)))
                throw new CompactException($"{source}: {name}'s \"{k}\" is {f.ToJsonString()}; it must be a positive number.");
        return p;
    }

    /// <summary>One RoPE parameter set into rope_theta and rope_scaling.</summary>
    static void Fold(JsonObject c, JsonObject p, string source)
    {
        const string thetaKey = "rope_theta", scalingKey = "rope_scaling";
        if (p["rope_theta"] is { } theta) Agree(c, thetaKey, theta, source);
        var scaling = new JsonObject();
        foreach (var (k, v) in p)
            if (k != "rope_theta") scaling[k] = v?.DeepClone();
        if (Type(p) == "default")
        {
            if (c[scalingKey] is JsonObject old && Type(old) != "default")
                throw new CompactException($"{source}: \"{scalingKey}\" says rope_type '{Type(old)}' but \"{Key}\" says default; keep one of them.");
            return;
        }
        if (c[scalingKey] is JsonObject legacy && !JsonNode.DeepEquals(Normal(legacy), Normal(scaling)))
            throw new CompactException($"{source}: \"{scalingKey}\" and \"{Key}\" disagree ({legacy.ToJsonString()} vs {scaling.ToJsonString()}); keep one of them.");
        c[scalingKey] = scaling;
    }

    /// <summary>rope_type/type spelled one way and numbers as doubles, so that 8 and 8.0 agree.</summary>
    static JsonObject Normal(JsonObject s)
    {
        var n = new JsonObject { ["rope_type"] = Type(s) };
        foreach (var (k, v) in s)
            if (k is not ("rope_type" or "type"))
                n[k] = v is JsonValue jv && jv.TryGetValue<double>(out var d) ? JsonValue.Create(d) : v?.DeepClone();
        return n;
    }

    static void Agree(JsonObject c, string key, JsonNode value, string source)
    {
        double v = value.GetValue<double>();
        if (c[key] is JsonValue old && old.TryGetValue<double>(out var o) && o != v)
            throw new CompactException($"{source}: \"{key}\" is {o.ToString(CultureInfo.InvariantCulture)} but \"{Key}\" says {v.ToString(CultureInfo.InvariantCulture)}; keep one of them.");
        c[key] = v;
    }
}
