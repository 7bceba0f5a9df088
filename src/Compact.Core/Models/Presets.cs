namespace Compact.Models;

/// <summary>Named model shapes for `compact init` and the benchmarks, one entry per model (litgpt style), each
/// taken from the HF config.json named in its comment. Vocabulary size comes from the tokenizer at init time
/// unless the preset fixes it.</summary>
public static class Presets
{
    public sealed record Preset(string Name, ModelFamily Family, string Comment, Func<int, ModelConfig> Make);

    /// <summary>A config of family f with the given shape; the family's own fields are the caller's (Gemma3.Config).</summary>
    internal static ModelConfig Base(ModelFamily f, int vocab, int hidden, int inter, int layers, int heads, int kv, int? headDim = null,
        double theta = 10000, bool tie = false, RopeScaling? scaling = null, double eps = 1e-6, int maxPos = 4096) => new()
    {
        Architecture = ModelFamilies.Of(f).Architecture,
        Family = f,
        VocabSize = vocab,
        HiddenSize = hidden,
        IntermediateSize = inter,
        NumLayers = layers,
        NumHeads = heads,
        NumKvHeads = kv,
        HeadDim = headDim ?? hidden / heads,
        RopeTheta = theta,
        TieWordEmbeddings = tie,
        RopeScaling = scaling,
        RmsNormEps = eps,
        MaxPositionEmbeddings = maxPos,
        QkvBias = f == ModelFamily.Qwen2,
        QkNorm = f == ModelFamily.Qwen3,
        TorchDtype = "float32",
    };

    static readonly RopeScaling Llama32Scaling = new("llama3", 32, 1, 4, 8192);
    static readonly RopeScaling Llama31Scaling = new("llama3", 8, 1, 4, 8192);

    public static readonly IReadOnlyList<Preset> All =
    [
        // Test/demo sizes: real architectures, tiny dimensions (GQA with 2 query heads per KV head).
        new("qwen2-tiny", ModelFamily.Qwen2, "Qwen2 layout, 2 layers, d=64", v => Base(ModelFamily.Qwen2, v, 64, 128, 2, 4, 2, tie: true, theta: 1e6)),
        new("qwen2-small", ModelFamily.Qwen2, "Qwen2 layout, 4 layers, d=128", v => Base(ModelFamily.Qwen2, v, 128, 352, 4, 4, 2, tie: true, theta: 1e6)),
        new("llama-tiny", ModelFamily.Llama, "Llama 3 layout with llama3 rope scaling, 2 layers, d=64", v => Base(ModelFamily.Llama, v, 64, 128, 2, 4, 2, theta: 500000, scaling: new RopeScaling("llama3", 8, 1, 4, 64), eps: 1e-5)),
        new("llama-small", ModelFamily.Llama, "Llama 3 layout, 4 layers, d=128", v => Base(ModelFamily.Llama, v, 128, 352, 4, 4, 2, theta: 500000, eps: 1e-5)),
        new("qwen3-tiny", ModelFamily.Qwen3, "Qwen3 layout (q/k norm, explicit head_dim), 2 layers, d=64", v => Base(ModelFamily.Qwen3, v, 64, 128, 2, 4, 2, headDim: 32, tie: true, theta: 1e6)),
        new("mistral-tiny", ModelFamily.Mistral, "Mistral layout, 2 layers, d=64", v => Base(ModelFamily.Mistral, v, 64, 128, 2, 4, 2, eps: 1e-5)),
        // Gemma 3 layout with a short window so that tests cross it: layers (sliding, full), head_dim 32, window 16.
        new("gemma3-tiny", ModelFamily.Gemma3, "Gemma 3 layout (sliding + full layer, window 16), 2 layers, d=64",
            v => Gemma3.Config(v, 64, 128, 2, 4, 2, headDim: 32, slidingWindow: 16, maxPositions: 4096, queryPreAttnScalar: 32, pattern: 2)),
        // Qwen/Qwen2.5-0.5B-Instruct config.json
        new("qwen2.5-0.5b", ModelFamily.Qwen2, "Qwen2.5-0.5B", _ => Base(ModelFamily.Qwen2, 151936, 896, 4864, 24, 14, 2, theta: 1e6, tie: true, maxPos: 32768)),
        // Qwen/Qwen2.5-1.5B-Instruct config.json
        new("qwen2.5-1.5b", ModelFamily.Qwen2, "Qwen2.5-1.5B", _ => Base(ModelFamily.Qwen2, 151936, 1536, 8960, 28, 12, 2, theta: 1e6, tie: true, maxPos: 32768)),
        // Qwen/Qwen2.5-7B-Instruct config.json
        new("qwen2.5-7b", ModelFamily.Qwen2, "Qwen2.5-7B", _ => Base(ModelFamily.Qwen2, 152064, 3584, 18944, 28, 28, 4, theta: 1e6, maxPos: 32768)),
        // Qwen/Qwen3-0.6B config.json
        new("qwen3-0.6b", ModelFamily.Qwen3, "Qwen3-0.6B", _ => Base(ModelFamily.Qwen3, 151936, 1024, 3072, 28, 16, 8, headDim: 128, theta: 1e6, tie: true, maxPos: 40960)),
        // google/gemma-3-270m config.json: hidden 640, intermediate 2048, 18 layers, 4 heads, 1 KV head, head_dim 256,
        // query_pre_attn_scalar 256, sliding_window 512, pattern 6 (5 sliding : 1 full), rope 1e6 / local 1e4, no
        // rope_scaling, no soft-capping, vocab 262144, context 32768, tied.
        new("gemma-3-270m", ModelFamily.Gemma3, "Gemma-3-270M", _ => Gemma3.Config(262144, 640, 2048, 18, 4, 1, 256, 512, 32768)),
        // google/gemma-3-1b-pt config.json: hidden 1152, intermediate 6912, 26 layers, 4 heads, 1 KV head, head_dim 256,
        // the rest as 270M.
        new("gemma-3-1b", ModelFamily.Gemma3, "Gemma-3-1B", _ => Gemma3.Config(262144, 1152, 6912, 26, 4, 1, 256, 512, 32768)),
        // meta-llama/Llama-3.2-1B-Instruct config.json
        new("llama-3.2-1b", ModelFamily.Llama, "Llama-3.2-1B", _ => Base(ModelFamily.Llama, 128256, 2048, 8192, 16, 32, 8, headDim: 64, theta: 500000, tie: true, scaling: Llama32Scaling, eps: 1e-5, maxPos: 131072)),
        // meta-llama/Llama-3.2-3B-Instruct config.json
        new("llama-3.2-3b", ModelFamily.Llama, "Llama-3.2-3B", _ => Base(ModelFamily.Llama, 128256, 3072, 8192, 28, 24, 8, headDim: 128, theta: 500000, tie: true, scaling: Llama32Scaling, eps: 1e-5, maxPos: 131072)),
        // meta-llama/Llama-3.1-8B-Instruct config.json
        new("llama-3.1-8b", ModelFamily.Llama, "Llama-3.1-8B", _ => Base(ModelFamily.Llama, 128256, 4096, 14336, 32, 32, 8, theta: 500000, scaling: Llama31Scaling, eps: 1e-5, maxPos: 131072)),
    ];

    public static IEnumerable<string> Families => All.Select(p => ModelFamilies.Of(p.Family).Name).Distinct();

    public static Preset Get(string name) => All.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new CompactException($"unknown model size '{name}'; choose one of: {string.Join(", ", All.Select(p => p.Name))}.");

    /// <summary>`--family qwen2 --size tiny` → preset "qwen2-tiny"; a full preset name is accepted as the size too.</summary>
    public static Preset Resolve(string family, string size)
    {
        var direct = All.FirstOrDefault(p => p.Name.Equals(size, StringComparison.OrdinalIgnoreCase));
        if (direct is not null) return direct;
        return Get($"{family}-{size}");
    }
}
