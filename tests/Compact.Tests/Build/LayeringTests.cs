using System.Reflection;
using Compact.Models;

namespace Compact.Tests.Build;

/// <summary>The tensor library stays a library: no web, console, plotting or YAML dependency.</summary>
public class LayeringTests
{
    [Fact]
    public void Compact_Core_references_no_web_ui_plotting_or_yaml_assembly()
    {
        var core = typeof(ModelConfig).Assembly;
        Assert.Equal("Compact.Core", core.GetName().Name);
        var refs = core.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.Contains("TorchSharp", refs);
        string[] forbidden = ["Microsoft.AspNetCore", "Spectre.Console", "ScottPlot", "SkiaSharp", "YamlDotNet", "OpenAI", "Compact.Pipeline"];
        Assert.DoesNotContain(refs, r => forbidden.Any(f => r.StartsWith(f, StringComparison.Ordinal)));
    }

    [Fact]
    public void Compact_Core_project_file_references_only_torch_and_tokenizers_packages()
    {
        var csproj = File.ReadAllText(Path.Combine(TestUtil.RepoRoot(), "src", "Compact.Core", "Compact.Core.csproj"));
        var packages = System.Text.RegularExpressions.Regex.Matches(csproj, "PackageReference Include=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["TorchSharp-cuda-linux", "TorchSharp-cpu", "Microsoft.ML.Tokenizers"], packages);
        Assert.DoesNotContain("FrameworkReference", csproj, StringComparison.Ordinal);
        Assert.DoesNotContain("ProjectReference", csproj, StringComparison.Ordinal);
    }

    [Fact]
    public void Family_table_round_trips_architecture_and_model_type_for_every_family()
    {
        // Names as Hugging Face transformers spells them (configuration_*.py model_type and the architectures list).
        var expected = new Dictionary<ModelFamily, (string Arch, string Type)>
        {
            [ModelFamily.Llama] = ("LlamaForCausalLM", "llama"),
            [ModelFamily.Qwen2] = ("Qwen2ForCausalLM", "qwen2"),
            [ModelFamily.Qwen3] = ("Qwen3ForCausalLM", "qwen3"),
            [ModelFamily.Mistral] = ("MistralForCausalLM", "mistral"),
            [ModelFamily.Gemma3] = ("Gemma3ForCausalLM", "gemma3_text"),
        };
        Assert.Equal(Enum.GetValues<ModelFamily>().Length, ModelFamilies.All.Count);
        foreach (var (f, (arch, type)) in expected)
        {
            Assert.Equal(arch, ModelFamilies.Of(f).Architecture);
            Assert.Equal(f, ModelFamilies.ByModelType(type)!.Family);
            Assert.Equal(f, ModelFamilies.ByArchitecture(arch)!.Family);
        }
        // Every preset writes the architecture of its own family.
        foreach (var p in Presets.All)
            Assert.Equal(expected[p.Family].Arch, p.Make(256).Architecture);
    }
}
