using System.Text;
using System.Text.Json.Nodes;
using Compact.Cli;
using Compact.IO;
using Compact.Models;
using Compact.Tests.Training;
using Compact.Training;
using TorchSharp;

namespace Compact.Tests.Robustness;

/// <summary>Bad input is refused before it is used, in one line naming the file, field or flag.</summary>
public class InputValidationTests
{
    static (int Code, string Out, string Err) Run(params string[] args) => TestUtil.RunCli(args);

    static JsonObject TinyConfig() => Presets.Get("qwen2-tiny").Make(96).ToJson();

    [Theory]
    [InlineData("max_position_embeddings", "-1", "max_position_embeddings")]
    [InlineData("rms_norm_eps", "-1", "rms_norm_eps")]
    [InlineData("rms_norm_eps", "0", "rms_norm_eps")]
    [InlineData("rope_theta", "0", "rope_theta")]
    [InlineData("eos_token_id", "999999", "eos_token_id")]
    [InlineData("eos_token_id", "[1, 96]", "eos_token_id")]        // 96 = vocab_size: one past the last id
    [InlineData("bos_token_id", "-3", "bos_token_id")]
    [InlineData("rope_scaling", "\"linear\"", "rope_scaling")]
    [InlineData("rope_scaling", "{\"rope_type\": \"linear\", \"factor\": 0}", "factor")]
    [InlineData("torch_dtype", "\"float7\"", "torch_dtype")]
    [InlineData("architectures", "[null]", "architectures")]
    [InlineData("vocab_size", "400000000", "vocab_size")]
    [InlineData("hidden_size", "\"64\"", "hidden_size")]
    [InlineData("num_hidden_layers", "0", "num_hidden_layers")]
    [InlineData("tie_word_embeddings", "\"yes\"", "tie_word_embeddings")]
    public void Config_values_out_of_their_domain_are_refused_naming_the_field(string key, string json, string named)
    {
        var cfg = TinyConfig();
        cfg[key] = JsonNode.Parse(json);
        var ex = Assert.Throws<CompactException>(() => ModelConfig.Parse(cfg.ToJsonString(), "m/config.json"));
        Assert.StartsWith("m/config.json: ", ex.Message);
        Assert.Contains(named, ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void The_unchanged_tiny_and_shared_configs_still_parse()
    {
        ModelConfig.Parse(TinyConfig().ToJsonString());
        var shared = Path.Combine(TestUtil.RepoRoot(), "..", "shared", "models", "TinyStories-656K", "config.json");
        if (File.Exists(shared)) ModelConfig.Parse(File.ReadAllText(shared), shared);
    }

    [Theory]
    [InlineData("num_hidden_layers", 7, "num_hidden_layers is 7 but the checkpoint holds")]
    [InlineData("vocab_size", 4_000_000, "vocab_size 4000000")]
    [InlineData("intermediate_size", 1000, "parameters but the weights hold")]
    public void Info_refuses_a_config_that_does_not_describe_its_weights(string key, int value, string expected)
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var path = Path.Combine(model, "config.json");
        var cfg = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        cfg[key] = value;
        File.WriteAllText(path, cfg.ToJsonString());
        var r = Run("info", "--model", model);
        Assert.Equal(1, r.Code);
        Assert.Contains(expected, r.Err);
        var g = Run("generate", "--model", model, "--prompt", "hi");     // refused before the model is allocated
        Assert.Equal(1, g.Code);
        Assert.Contains(expected, g.Err);
    }

    [Fact]
    public void NaN_weights_are_refused_by_generate_and_merge_unless_allowed()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var poisoned = dir["poisoned"];
        using (var m = CausalLM.Load(model))
        {
            using (torch.no_grad()) m.named_parameters().First(p => p.name.EndsWith("mlp.down_proj.weight", StringComparison.Ordinal)).parameter[0, 0].fill_(float.NaN);
            m.Save(poisoned);
        }
        Student.CopyTokenizerFiles(model, poisoned);
        var g = Run("generate", "--model", poisoned, "--prompt", "hi", "--max-new-tokens", "2");
        Assert.Equal(1, g.Code);
        Assert.Contains("mlp.down_proj.weight' holds 1 NaN", g.Err);
        Assert.Contains("--allow-nonfinite", g.Err);
        Assert.Equal(0, Run("generate", "--model", poisoned, "--prompt", "hi", "--max-new-tokens", "2", "--allow-nonfinite").Code);
        // Training starts from the same check: sft refuses the poisoned student before its first step.
        File.WriteAllText(dir["train.jsonl"], "{\"question\": \"1+1?\", \"target\": \"2\"}\n");
        var sft = Run("sft", "--model", poisoned, "--data", dir["train.jsonl"], "--out", dir["sft"], "--max-steps", "1");
        Assert.Equal(1, sft.Code);
        Assert.Contains("mlp.down_proj.weight' holds 1 NaN", sft.Err);

        // A NaN adapter on a clean base: merge refuses it, naming the adapter folder.
        var adapter = dir["adapter"];
        using (var m = CausalLM.Load(model))
        using (var lora = LoraAdapters.Attach(m, new LoraConfig { Rank = 2 }, seed: 1))
        {
            using (torch.no_grad()) lora.NamedParameters().First().Param.fill_(float.PositiveInfinity);
            lora.Save(adapter, model);
        }
        var merge = Run("merge", "--model", model, "--adapter", adapter, "--out", dir["merged"]);
        Assert.Equal(1, merge.Code);
        Assert.Contains(adapter, merge.Err);
        Assert.Contains("infinite", merge.Err);
    }

    [Fact]
    public void Merge_refuses_to_replace_an_existing_checkpoint_without_overwrite()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var other = SftTests.TinyModel(dir, name: "other");
        var before = File.ReadAllBytes(Path.Combine(other, "model.safetensors"));
        var r = Run("merge", "--model", model, "--adapter", dir["no-adapter"], "--out", other);
        Assert.Equal(1, r.Code);
        Assert.Contains($"--out {other} already holds a checkpoint", r.Err);
        Assert.Contains("--overwrite", r.Err);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(other, "model.safetensors")));
    }

    [Fact]
    public void A_safetensors_header_with_invalid_utf8_names_the_file()
    {
        using var dir = new TestUtil.TempDir();
        var header = Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}").ToList();
        header[2] = 0xFF;                                                  // inside the tensor name
        var bytes = BitConverter.GetBytes((ulong)header.Count).Concat(header).Concat(new byte[4]).ToArray();
        File.WriteAllBytes(dir["bad.safetensors"], bytes);
        var ex = Assert.Throws<CompactException>(() => SafeTensorsFile.Open(dir["bad.safetensors"]));
        Assert.Contains(dir["bad.safetensors"], ex.Message);
        Assert.Contains("UTF-8", ex.Message);
    }

    [Fact]
    public void A_tokenizer_with_ids_beyond_the_model_vocabulary_is_refused_at_load()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var path = Path.Combine(model, "config.json");
        var cfg = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        int vocab = cfg["vocab_size"]!.GetValue<int>();
        // Shrink the model's vocabulary (config and weights agree) below the tokenizer's ids.
        using (var m = CausalLM.Load(model))
        {
            var small = m.Config with { VocabSize = vocab - 8, EosTokenIds = [], BosTokenId = null, PadTokenId = null };
            using var s = new CausalLM(small, TorchSharp.torch.ScalarType.Float32, TorchSharp.torch.CPU);
            s.InitializeRandom(1);
            s.Save(dir["small"]);
        }
        Student.CopyTokenizerFiles(model, dir["small"]);
        var r = Run("generate", "--model", dir["small"], "--prompt", "hi", "--max-new-tokens", "1");
        Assert.Equal(1, r.Code);
        Assert.Contains($"vocab_size is {vocab - 8}", r.Err);
    }

    [Theory]
    [InlineData("--min-lr-ratio", "2")]
    [InlineData("--warmup-steps", "-1")]
    [InlineData("--max-grad-norm", "-1")]
    [InlineData("--keep-last", "0")]
    [InlineData("--save-every", "-1")]
    [InlineData("--lr", "nan")]
    [InlineData("--lr", "0")]
    [InlineData("--lora-dropout", "1")]
    public void Training_options_out_of_range_are_refused_at_parse_time(string flag, string value)
    {
        using var dir = new TestUtil.TempDir();
        // The model and data do not exist: the range check must come first.
        var r = Run("sft", "--model", dir["m"], "--data", dir["d.jsonl"], "--out", dir["r"], flag, value);
        Assert.NotEqual(0, r.Code);
        Assert.Contains($"{flag} {value}", r.Err);
        Assert.False(Directory.Exists(dir["r"]));
    }

    [Theory]
    [InlineData("--port", "99999")]
    [InlineData("--max-queue", "0")]
    [InlineData("--max-tokens-limit", "-5")]
    public void Serve_options_out_of_range_are_refused_at_parse_time(string flag, string value)
    {
        var r = Run("serve", "--model", "no-such-model", flag, value);
        Assert.NotEqual(0, r.Code);
        Assert.Contains($"{flag} {value}", r.Err);
    }

    [Fact]
    public void Config_files_with_duplicate_or_complex_keys_are_refused_in_one_line()
    {
        using var dir = new TestUtil.TempDir();
        File.WriteAllText(dir["dup.json"], """{"lr": 0.1, "max_steps": 2, "lr": 0.2}""");
        var dup = Run("sft", "--model", dir["m"], "--data", dir["d"], "--out", dir["r"], "--config", dir["dup.json"]);
        Assert.Equal(1, dup.Code);
        Assert.Contains("'lr' is given twice", dup.Err);
        File.WriteAllText(dir["complex.yaml"], "? [a, b]\n: 1\n");
        var complex = Run("sft", "--model", dir["m"], "--data", dir["d"], "--out", dir["r"], "--config", dir["complex.yaml"]);
        Assert.Equal(1, complex.Code);
        Assert.Contains("complex.yaml", complex.Err);
        Assert.DoesNotContain("InvalidCastException", complex.Err);
    }

    [Fact]
    public void A_non_string_system_in_sft_data_is_a_bad_line()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        File.WriteAllText(dir["d.jsonl"], """{"question":"1+1?","target":"2","system":5}""" + "\n");
        var r = Run("sft", "--model", model, "--data", dir["d.jsonl"], "--out", dir["r"], "--max-steps", "1");
        Assert.Equal(1, r.Code);
        Assert.Contains($"{dir["d.jsonl"]}:1: \"system\" must be a string", r.Err);
    }
}
