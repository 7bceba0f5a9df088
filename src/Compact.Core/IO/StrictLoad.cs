using TorchSharp;
using static TorchSharp.torch;

namespace Compact.IO;

/// <summary>The one strict loading path for named tensors read from safetensors, used by the model
/// (CausalLM.LoadWeights) and by LoRA adapters (LoraAdapters.LoadWeights): every expected tensor must be present
/// with its exact shape and no file tensor may be left over; all problems are reported in one message naming the
/// folder or file. Values are converted to each destination's dtype and device.</summary>
public static class StrictLoad
{
    /// <param name="reader">The checkpoint (one file or shards; metadata aliases already resolved by the reader).</param>
    /// <param name="expected">Destination tensors by name.</param>
    /// <param name="what">What is loaded, for the message ("checkpoint does not match its config.json (Qwen2ForCausalLM)").</param>
    /// <param name="fix">The sentence that tells the user what to do.</param>
    /// <param name="keyOf">Maps a file key to the expected name it provides (identity when null), e.g. PEFT's
    /// ".lora_A.default.weight" → ".lora_A.weight", or a tied head stored only as lm_head.weight.</param>
    /// <param name="ignorable">File keys that may be left over (a tied checkpoint's lm_head.weight, legacy rotary buffers).</param>
    /// <returns>The file dtype of each loaded tensor.</returns>
    public static IReadOnlyDictionary<string, ScalarType> Into(CheckpointReader reader, IReadOnlyDictionary<string, Tensor> expected,
        string what, string fix, Func<string, string>? keyOf = null, Func<string, bool>? ignorable = null)
    {
        var provider = new Dictionary<string, string>(StringComparer.Ordinal);     // expected name → file key
        var unexpected = new List<string>();
        foreach (var key in reader.Names.OrderBy(n => n, StringComparer.Ordinal))
        {
            var name = keyOf?.Invoke(key) ?? key;
            if (!expected.ContainsKey(name))
            {
                if (ignorable?.Invoke(key) != true) unexpected.Add(key);
                continue;
            }
            // Two file keys for one tensor (e.g. both the plain and the ".default" PEFT name): the plain name wins.
            if (!provider.TryGetValue(name, out var prev) || key == name) provider[name] = key;
            else if (prev != name) unexpected.Add(key);
        }
        var missing = expected.Keys.Where(k => !provider.ContainsKey(k)).ToList();
        var misshaped = expected.Where(kv => provider.ContainsKey(kv.Key) && !reader.Entry(provider[kv.Key]).Shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key} (checkpoint [{string.Join(",", reader.Entry(provider[kv.Key]).Shape)}], model [{string.Join(",", kv.Value.shape)}])").ToList();
        if (missing.Count + unexpected.Count + misshaped.Count > 0)
        {
            static string List(string label, List<string> xs) => xs.Count == 0 ? "" :
                $" {label} ({xs.Count}): {string.Join(", ", xs.Take(8))}{(xs.Count > 8 ? ", …" : "")}.";
            throw new CompactException($"{reader.Directory}: {what}."
                + List("Missing", missing) + List("Unexpected", unexpected) + List("Wrong shape", misshaped) + " " + fix);
        }
        var src = new Dictionary<string, ScalarType>();
        using (torch.no_grad())
            foreach (var (name, dst) in expected)
            {
                reader.ReadInto(provider[name], dst);
                src[name] = reader.Entry(provider[name]).DType.ToTorch();
            }
        return src;
    }
}
