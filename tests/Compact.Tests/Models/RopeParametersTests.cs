using Compact.Models;

namespace Compact.Tests.Models;

/// <summary>transformers 5's rope_parameters (flat, and per layer type for Gemma 3) read as the legacy keys would be.
/// Expected values are the numbers written in each config.</summary>
public class RopeParametersTests
{
    const string Shape = "\"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2";

    static ModelConfig Parse(string arch, string extra) =>
        ModelConfig.Parse($$"""{"architectures": ["{{arch}}"], {{Shape}}, {{extra}}}""", "cfg.json");

    [Fact]
    public void Flat_default_sets_theta_and_no_scaling()
    {
        var c = Parse("Qwen2ForCausalLM", "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0}");
        Assert.Equal(1_000_000, c.RopeTheta);
        Assert.Null(c.RopeScaling);
    }

    [Fact]
    public void Without_rope_parameters_nor_rope_theta_the_default_base_stays()
    {
        Assert.Equal(10_000, Parse("LlamaForCausalLM", "\"rms_norm_eps\": 1e-5").RopeTheta);
    }

    [Fact]
    public void Flat_llama3_sets_theta_and_scaling()
    {
        var c = Parse("LlamaForCausalLM", "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 500000.0, \"factor\": 32.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}");
        Assert.Equal(500_000, c.RopeTheta);
        Assert.Equal(new RopeScaling("llama3", 32, 1, 4, 8192), c.RopeScaling);
    }

    [Fact]
    public void Gemma3_per_layer_type_sets_full_and_local_bases()
    {
        var c = Parse("Gemma3ForCausalLM", "\"head_dim\": 16, \"rope_parameters\": {\"full_attention\": {\"rope_type\": \"linear\", \"factor\": 8.0, \"rope_theta\": 1000000.0}, \"sliding_attention\": {\"rope_type\": \"default\", \"rope_theta\": 10000.0}}");
        Assert.Equal(1_000_000, c.RopeTheta);
        Assert.Equal(10_000, c.RopeLocalTheta);
        Assert.Equal(new RopeScaling("linear", 8), c.RopeScaling);
    }

    [Fact]
    public void Legacy_keys_that_agree_are_accepted()
    {
        var c = Parse("Qwen2ForCausalLM", "\"rope_theta\": 1000000, \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0}");
        Assert.Equal(1_000_000, c.RopeTheta);
        var l = Parse("LlamaForCausalLM", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}, \"rope_parameters\": {\"rope_type\": \"linear\", \"factor\": 2.0, \"rope_theta\": 10000.0}");
        Assert.Equal(new RopeScaling("linear", 2), l.RopeScaling);
    }

    [Theory]
    [InlineData("\"rope_theta\": 10000.0, \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0}", "\"rope_theta\" is 10000 but \"rope_parameters\" says 1000000")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 4.0}, \"rope_parameters\": {\"rope_type\": \"linear\", \"factor\": 2.0}", "\"rope_scaling\" and \"rope_parameters\" disagree")]
    [InlineData("\"rope_parameters\": 5", "\"rope_parameters\" must be an object")]
    [InlineData("\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": -1}", "rope_parameters's \"rope_theta\" is -1; it must be a positive number")]
    [InlineData("\"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 4.0}", "rope_scaling type 'yarn' is not supported")]
    [InlineData("\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\"}, \"chunked_attention\": {}}", "'chunked_attention'")]
    public void Bad_or_conflicting_rope_parameters_are_one_line_errors_naming_the_file(string extra, string message)
    {
        var e = Assert.Throws<CompactException>(() => Parse("LlamaForCausalLM", extra));
        Assert.StartsWith("cfg.json: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }
}
