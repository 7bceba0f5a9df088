using System.Text.Json.Nodes;
using Compact.Cli.Commands;
using Compact.Models;
using Compact.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Tests.Models;

public class Gemma3Tests
{
    [Theory]
    // Parameter counts published for the real models: gemma-3-270m 268,098,176 (its model card's "268M";
    // by hand: embed 262144·640 + 18·(q 640·1024 + k,v 2·640·256 + o 1024·640 + q/k norm 2·256 + MLP 3·640·2048
    // + 4 norms 4·640) + 640); gemma-3-1b 999,885,952 (keras-hub gemma3_1b preset "params").
    [InlineData("gemma-3-270m", 268_098_176L, 18, 3)]
    [InlineData("gemma-3-1b", 999_885_952L, 26, 4)]
    public void Real_shapes_have_the_published_parameter_counts(string preset, long parameters, int layers, int fullLayers)
    {
        var cfg = Presets.Get(preset).Make(0);
        Assert.Equal(parameters, cfg.ParameterCount());
        Assert.Equal(layers, cfg.NumLayers);
        // Pattern 6: layers 5, 11, 17, 23 (0-based) are full attention.
        Assert.Equal(fullLayers, cfg.LayerTypes.Count(k => k == LayerKind.FullAttention));
        Assert.Equal(LayerKind.FullAttention, cfg.KindOf(5));
        Assert.Equal(LayerKind.SlidingAttention, cfg.KindOf(0));
        using var m = new CausalLM(cfg, ScalarType.Float32, torch.META);
        Assert.Equal(parameters, m.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Tiny_preset_has_exactly_the_Hugging_Face_keys()
    {
        using var m = TestUtil.TinyModel("gemma3-tiny", vocab: 96);
        var keys = m.named_parameters().Select(p => p.name).Where(n => n.StartsWith("model.layers.0.", StringComparison.Ordinal))
            .Select(n => n["model.layers.0.".Length..]).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[]
        {
            "input_layernorm.weight", "mlp.down_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
            "post_attention_layernorm.weight", "post_feedforward_layernorm.weight", "pre_feedforward_layernorm.weight",
            "self_attn.k_norm.weight", "self_attn.k_proj.weight", "self_attn.o_proj.weight", "self_attn.q_norm.weight",
            "self_attn.q_proj.weight", "self_attn.v_proj.weight",
        }, keys);
        Assert.DoesNotContain(m.named_parameters(), p => p.name.StartsWith("lm_head", StringComparison.Ordinal));   // tied
        Assert.Equal([96, 64], m.model.embed_tokens.weight.shape);
        Assert.Equal([4 * 32, 64], m.model.layers[1].self_attn.q_proj.weight.shape);
        Assert.Equal([2 * 32, 64], m.model.layers[1].self_attn.k_proj.weight.shape);
        // (1 + w) norms start at w = 0, as HF's Gemma3 _init_weights.
        Assert.Equal(0f, m.model.norm.weight.abs().max().item<float>());
    }

    [Fact]
    public void Config_parses_layer_types_or_the_pattern_and_rejects_bad_values()
    {
        const string baseJson = """
            {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "vocab_size": 32, "hidden_size": 16,
             "intermediate_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8 %EXTRA%}
            """;
        var c = ModelConfig.Parse(baseJson.Replace("%EXTRA%", ""));
        // Gemma3TextConfig defaults: pattern 6 (4 layers: all sliding), window 4096, query_pre_attn_scalar 256, tied.
        Assert.All(c.LayerTypes, k => Assert.Equal(LayerKind.SlidingAttention, k));
        Assert.Equal(4096, c.SlidingWindow);
        Assert.Equal(1 / 16.0, c.AttentionScale, 12);
        Assert.True(c.TieWordEmbeddings && c.QkNorm && c.NormPlusOne && c.ScaleEmbeddings && c.SandwichNorms);
        Assert.Equal("gelu_pytorch_tanh", c.HiddenAct);
        var p2 = ModelConfig.Parse(baseJson.Replace("%EXTRA%", ", \"sliding_window_pattern\": 2"));
        Assert.Equal([LayerKind.SlidingAttention, LayerKind.FullAttention, LayerKind.SlidingAttention, LayerKind.FullAttention], p2.LayerTypes);
        var lt = ModelConfig.Parse(baseJson.Replace("%EXTRA%", ", \"sliding_window_pattern\": 2, \"layer_types\": [\"full_attention\", \"sliding_attention\", \"sliding_attention\", \"sliding_attention\"]"));
        Assert.Equal(LayerKind.FullAttention, lt.LayerTypes[0]);     // layer_types wins over the pattern
        var bad = Assert.Throws<CompactException>(() => ModelConfig.Parse(baseJson.Replace("%EXTRA%", ", \"layer_types\": [\"full_attention\"]")));
        Assert.Contains("layer_types has 1 entries but num_hidden_layers is 4", bad.Message);
        var act = Assert.Throws<CompactException>(() => ModelConfig.Parse(baseJson.Replace("%EXTRA%", ", \"hidden_activation\": \"relu\"")));
        Assert.Contains("hidden_activation 'relu'", act.Message);
        // Written back and read again: the same config.
        var again = ModelConfig.Parse(p2.ToJson().ToJsonString());
        Assert.Equal(p2.LayerTypes, again.LayerTypes);
        Assert.Equal(p2 with { LayerTypes = again.LayerTypes, EosTokenIds = again.EosTokenIds }, again);
    }

    [Fact]
    public void LoRA_targets_every_linear_layer_of_Gemma_under_PEFT_names()
    {
        using var m = TestUtil.TinyModel("gemma3-tiny");
        using var lora = LoraAdapters.Attach(m, new LoraConfig { Rank = 2, Alpha = 4, Dropout = 0 }, seed: 1);
        Assert.Equal(2 * 7, lora.Items.Count);
        var keys = lora.NamedParameters().Select(p => p.Key).ToHashSet();
        foreach (var mod in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" })
        {
            Assert.Contains($"base_model.model.model.layers.1.{mod}.lora_A.weight", keys);
            Assert.Contains($"base_model.model.model.layers1.{mod}.lora_B.weight".Replace("layers1", "layers.1"), keys);
        }
    }

    [Fact]
    public void Cached_decoding_past_the_window_equals_uncached()
    {
        // gemma3-tiny: window 16, layer 0 sliding. A 12-token prompt, then 28 tokens fed one at a time through the
        // KV cache: every step's logits equal those of one uncached pass over the whole 40 tokens.
        using var m = TestUtil.TinyModel("gemma3-tiny", vocab: 96, seed: 5);
        using var _ = torch.no_grad();
        foreach (var p in m.parameters().Where(p => p.dim() == 2)) p.mul_(6);   // sharper logits than init's 0.02
        using var seq = torch.randint(0, 96, [1, 40], generator: new Generator(11));
        using var full = m.Logits(m.Forward(seq).Hidden);                         // (1, 40, V)
        using var cache = new KvCache(m.Config.NumLayers);
        using var first = m.Logits(m.Forward(seq.narrow(1, 0, 12), cache: cache).Hidden);
        Assert.True(TestUtil.MaxAbsDiff(first, full.narrow(1, 0, 12)) < 1e-5f);
        for (int t = 12; t < 40; t++)
        {
            using var scope = torch.NewDisposeScope();
            var step = m.Logits(m.Forward(seq.narrow(1, t, 1), cache: cache).Hidden);
            float d = TestUtil.MaxAbsDiff(step, full.narrow(1, t, 1));
            Assert.True(d < 1e-5f, $"position {t}: max |Δlogit| = {d}");
        }
        // The window matters: with a window wider than the sequence, positions 0..15 (q − k < 16 for every key)
        // are unchanged and later positions differ.
        using var wide = new CausalLM(m.Config with { SlidingWindow = 1000 }, ScalarType.Float32, torch.CPU);
        foreach (var (n, p) in wide.named_parameters()) p.copy_(m.get_parameter(n)!);
        using var other = wide.Logits(wide.Forward(seq).Hidden);
        Assert.Equal(0f, TestUtil.MaxAbsDiff(other.narrow(1, 0, 16), full.narrow(1, 0, 16)));
        Assert.True(TestUtil.MaxAbsDiff(other.narrow(1, 16, 24), full.narrow(1, 16, 24)) > 1e-3f);
    }

    [Fact]
    public void Final_soft_cap_bounds_logits_and_is_refused_where_losses_skip_it()
    {
        using var m = new CausalLM(Presets.Get("gemma3-tiny").Make(96) with { FinalLogitSoftcap = 2.0 }, ScalarType.Float32, torch.CPU);
        m.InitializeRandom(1);
        using var _ = torch.no_grad();
        foreach (var p in m.parameters().Where(p => p.dim() == 2)) p.mul_(50);
        using var ids = torch.tensor(new long[] { 1, 2, 3, 4 }, [1, 4]);
        using var logits = m.Logits(m.Forward(ids).Hidden);
        Assert.True(logits.abs().max().item<float>() <= 2.0f);   // 2·tanh(z/2) ∈ (−2, 2)
        Assert.Contains("final_logit_softcapping", Assert.Throws<CompactException>(() => m.OutputWeight).Message);
    }

    [Fact]
    public void Init_and_info_work_for_gemma3()
    {
        using var tmp = new TestUtil.TempDir();
        var dir = tmp["g"];
        var sw = new StringWriter();
        Assert.Equal(0, InitCommand.Run(new InitCommand.Args("gemma3", "tiny", null, null, 512, dir, 1, "float32"), sw));
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!;
        Assert.Equal("Gemma3ForCausalLM", cfg["architectures"]![0]!.GetValue<string>());
        Assert.Equal("gemma3_text", cfg["model_type"]!.GetValue<string>());
        Assert.Equal("gelu_pytorch_tanh", cfg["hidden_activation"]!.GetValue<string>());
        using (var m = CausalLM.Load(dir)) Assert.Equal(ModelFamily.Gemma3, m.Config.Family);
        var info = new StringWriter();
        Assert.Equal(0, InfoCommand.Run(dir, null, json: true, info));
        var o = JsonNode.Parse(info.ToString())!;
        Assert.Equal("Gemma3ForCausalLM", o["architecture"]!.GetValue<string>());
        Assert.Equal("1 sliding-window layers (window 16), 1 full", o["attention"]!.GetValue<string>());
        Assert.Equal("gelu_pytorch_tanh", o["activation"]!.GetValue<string>());
        Assert.Equal(Presets.Get("gemma3-tiny").Make(o["vocab_size"]!.GetValue<int>()).ParameterCount(), o["parameters"]!.GetValue<long>());
    }
}
