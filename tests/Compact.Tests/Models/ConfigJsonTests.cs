using System.Text.Json.Nodes;
using Compact.Cli.Commands;
using Compact.Models;

namespace Compact.Tests.Models;

/// <summary>Floats of config.json are written as JSON floats (Python's json: 500000.0, 8.0, 1e-05), never as integers.</summary>
public class ConfigJsonTests
{
    [Theory]
    [InlineData(500000.0, "500000.0")]
    [InlineData(8.0, "8.0")]
    [InlineData(1e-5, "1e-05")]
    [InlineData(0.02, "0.02")]
    [InlineData(1e6, "1000000.0")]
    public void JsonFloat_writes_a_fraction_or_exponent(double x, string expected) =>
        Assert.Equal(expected, ModelConfig.JsonFloat(x).ToJsonString());

    [Fact]
    public void Adapter_config_writes_lora_dropout_as_a_float()
    {
        var o = Compact.Training.LoraAdapters.ConfigJson(new Compact.Training.LoraConfig { Rank = 4, Alpha = 8, Dropout = 0 }, "base");
        Assert.Equal("0.0", o["lora_dropout"]!.ToJsonString());
    }

    [Theory]
    [InlineData("llama", "tiny")]
    [InlineData("gemma3", "tiny")]
    public void Init_writes_float_fields_as_floats(string family, string size)
    {
        using var tmp = new TestUtil.TempDir();
        var dir = tmp["m"];
        Assert.Equal(0, InitCommand.Run(new InitCommand.Args(family, size, null, null, 512, dir, 0, "float32"), new StringWriter()));
        var text = File.ReadAllText(Path.Combine(dir, "config.json"));
        var o = JsonNode.Parse(text)!.AsObject();
        if (family == "llama")
        {
            // llama-tiny: rope_theta 500000, llama3 scaling factor 8, low 1, high 4 (Presets.cs).
            Assert.Contains("\"rope_theta\": 500000.0", text);
            Assert.Contains("\"factor\": 8.0", text);
            Assert.Contains("\"low_freq_factor\": 1.0", text);
            Assert.Contains("\"high_freq_factor\": 4.0", text);
            Assert.Contains("\"original_max_position_embeddings\": 64", text);   // an integer stays an integer
            Assert.Contains("\"rms_norm_eps\": 1e-05", text);
        }
        else
        {
            Assert.Contains("\"rope_theta\": 1000000.0", text);
            Assert.Contains("\"rope_local_base_freq\": 10000.0", text);
            Assert.Contains("\"query_pre_attn_scalar\": 32,", text);          // an int in Gemma3TextConfig
        }
        foreach (var key in new[] { "rope_theta", "rms_norm_eps", "initializer_range" })
            Assert.Matches(@"[.e]", o[key]!.ToJsonString());
        Assert.DoesNotMatch(@"[.e]", o["hidden_size"]!.ToJsonString());
    }

    [Theory]
    // Mistral-7B-v0.1: sliding_window 4096 on every layer; v0.2+: null, no window.
    [InlineData("MistralForCausalLM", ", \"sliding_window\": 4096", "SSS", 4096)]
    [InlineData("MistralForCausalLM", ", \"sliding_window\": null", "FFF", null)]
    // Qwen2.5: use_sliding_window false (the released configs) ignores sliding_window; true slides from max_window_layers.
    [InlineData("Qwen2ForCausalLM", ", \"sliding_window\": 4096, \"use_sliding_window\": false, \"max_window_layers\": 1", "FFF", null)]
    [InlineData("Qwen2ForCausalLM", ", \"sliding_window\": 64, \"use_sliding_window\": true, \"max_window_layers\": 1", "FSS", 64)]
    [InlineData("LlamaForCausalLM", ", \"sliding_window\": 64", "FFF", null)]
    public void Sliding_window_configs_of_other_families(string arch, string extra, string kinds, int? window)
    {
        var json = $$"""{"architectures": ["{{arch}}"], "vocab_size": 32, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2 {{extra}}}""";
        var c = ModelConfig.Parse(json);
        Assert.Equal(kinds, string.Concat(Enumerable.Range(0, 3).Select(i => c.KindOf(i) == LayerKind.FullAttention ? 'F' : 'S')));
        Assert.Equal(window, c.SlidingWindow);
        var again = ModelConfig.Parse(c.ToJson().ToJsonString());
        Assert.Equal(kinds, string.Concat(Enumerable.Range(0, 3).Select(i => again.KindOf(i) == LayerKind.FullAttention ? 'F' : 'S')));
        Assert.Equal(window, again.SlidingWindow);
    }
}
