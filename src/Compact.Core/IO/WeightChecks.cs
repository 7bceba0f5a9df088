using Compact.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.IO;

/// <summary>Checks on weights before and after loading: the checkpoint's tensors agree with config.json before the
/// model is allocated (so a wrong vocab_size or layer count is a one-line refusal, not an allocator failure or a
/// parameter count that does not exist), and loaded weights are finite (NaN or Inf weights would generate garbage
/// that looks like output).</summary>
public static class WeightChecks
{
    static readonly AsyncLocal<bool> _allowNonFinite = new();

    /// <summary>Set by `--allow-nonfinite` for the current command: skip the finite check.</summary>
    public static bool AllowNonFinite { get => _allowNonFinite.Value; set => _allowNonFinite.Value = value; }

    /// <summary>Refuses a config whose sizes disagree with the checkpoint header, before anything is allocated: the
    /// embedding must be [vocab_size, hidden_size], layers 0 … num_hidden_layers − 1 must exist and no further one,
    /// and (for the built-in decoder families) the element count must equal the config's parameter count. Loading
    /// passes exact: false, which refuses only a count off by more than a factor of two (what would allocate a model
    /// the weights cannot fill); smaller differences are then listed tensor by tensor by the strict loader.</summary>
    public static void RequireConsistent(ModelConfig cfg, CheckpointReader reader, bool exact = true)
    {
        const string embed = "model.embed_tokens.weight";
        string where = Path.Combine(reader.Directory, "config.json");
        if (reader.Contains(embed))
        {
            var shape = reader.Entry(embed).Shape;
            if (shape.Length != 2 || shape[0] != cfg.VocabSize || shape[1] != cfg.HiddenSize)
                throw new CompactException($"{where}: vocab_size {cfg.VocabSize} × hidden_size {cfg.HiddenSize} does not match the checkpoint's "
                    + $"{embed} [{string.Join(", ", shape)}]; use the config.json that came with these weights.");
        }
        int layers = reader.Names.Where(n => n.EndsWith(".input_layernorm.weight", StringComparison.Ordinal))
            .Select(LayerIndex).Where(i => i >= 0).DefaultIfEmpty(-1).Max() + 1;
        if (layers > 0 && layers != cfg.NumLayers)
            throw new CompactException($"{where}: num_hidden_layers is {cfg.NumLayers} but the checkpoint holds {layers} layers; use the config.json that came with these weights.");
        if (cfg.Family is ModelFamily.Llama or ModelFamily.Qwen2 or ModelFamily.Qwen3 or ModelFamily.Mistral)
        {
            long have = reader.Names
                .Where(n => !n.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal) && !(cfg.TieWordEmbeddings && n == "lm_head.weight"))
                .Sum(n => reader.Entry(n).Shape.Aggregate(1L, (a, b) => a * b));
            long want = cfg.ParameterCount();
            if (exact ? have != want : have > 2 * want || want > 2 * have)
                throw new CompactException($"{where}: describes a model of {want:N0} parameters but the weights hold {have:N0}; "
                    + "use the config.json that came with these weights.");
        }
    }

    /// <summary>Every id the tokenizer can produce must index the model's embedding (otherwise generation fails on
    /// the first such token, deep inside the model).</summary>
    public static void RequireTokenizerFits(int tokenizerVocab, ModelConfig cfg, string dir)
    {
        if (tokenizerVocab > cfg.VocabSize)
            throw new CompactException($"{dir}: tokenizer.json has ids up to {tokenizerVocab - 1} but config.json's vocab_size is {cfg.VocabSize}; "
                + "the tokenizer does not belong to this model (or vocab_size is wrong).");
    }

    static int LayerIndex(string name)
    {
        const string prefix = "model.layers.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal)) return -1;
        int dot = name.IndexOf('.', prefix.Length);
        return dot > prefix.Length && int.TryParse(name.AsSpan(prefix.Length, dot - prefix.Length), out var i) ? i : -1;
    }

    /// <summary>Refuses weights holding NaN or ±Inf (one isfinite pass per tensor), naming the first bad tensor and
    /// where it came from, unless <see cref="AllowNonFinite"/> is set.</summary>
    public static void RequireFinite(IEnumerable<(string Name, Tensor Value)> weights, string source)
    {
        if (AllowNonFinite) return;
        using var _ = torch.no_grad();
        foreach (var (name, t) in weights)
        {
            using var scope = torch.NewDisposeScope();
            if (!t.is_floating_point()) continue;
            if (torch.isfinite(t).all().item<bool>()) continue;
            long nan = t.isnan().sum().item<long>();
            long inf = t.isinf().sum().item<long>();
            throw new CompactException($"{source}: tensor '{name}' holds {nan} NaN and {inf} infinite values, so every output would be garbage; "
                + "re-save or re-train these weights (pass --allow-nonfinite to load them anyway).");
        }
    }
}
