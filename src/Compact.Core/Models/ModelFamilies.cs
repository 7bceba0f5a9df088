namespace Compact.Models;

/// <summary>The supported decoder families: the lowercase name `init --family` takes, the architecture in a Hugging
/// Face config.json's "architectures", and its "model_type".</summary>
public enum ModelFamily { Llama, Qwen2, Qwen3, Mistral, Gemma3 }

/// <summary>One family's names in the three places they appear.</summary>
public sealed record FamilyNames(ModelFamily Family, string Name, string Architecture, string ModelType);

/// <summary>The one table that maps family ↔ architecture ↔ model_type (config parsing, config writing, presets and
/// `init` all read it).</summary>
public static class ModelFamilies
{
    public static readonly IReadOnlyList<FamilyNames> All =
    [
        new(ModelFamily.Llama, "llama", "LlamaForCausalLM", "llama"),
        new(ModelFamily.Qwen2, "qwen2", "Qwen2ForCausalLM", "qwen2"),
        new(ModelFamily.Qwen3, "qwen3", "Qwen3ForCausalLM", "qwen3"),
        new(ModelFamily.Mistral, "mistral", "MistralForCausalLM", "mistral"),
        new(ModelFamily.Gemma3, "gemma3", "Gemma3ForCausalLM", "gemma3_text"),
    ];

    public static FamilyNames Of(ModelFamily family) => All.First(f => f.Family == family);

    public static FamilyNames? ByArchitecture(string architecture) => All.FirstOrDefault(f => f.Architecture == architecture);

    public static FamilyNames? ByModelType(string? modelType) => All.FirstOrDefault(f => f.ModelType == modelType);
}
