using System.Text.Json.Nodes;
using Compact.Cli;
using Compact.IO;
using Compact.Training;
using TorchSharp;

namespace Compact.Tests.Training;

/// <summary>End-to-end SFT through the command line on a tiny model.</summary>
public class SftTests
{
    internal static string TinyModel(TestUtil.TempDir dir, string family = "qwen2", string name = "model")
    {
        var path = dir[name];
        Assert.Equal(0, CompactCli.Run(["init", "--family", family, "--size", "tiny", "--out", path, "--seed", "1"], TextWriter.Null, TextWriter.Null));
        return path;
    }

    internal static string Data(TestUtil.TempDir dir, int n = 24)
    {
        var path = dir["sft.jsonl"];
        var rng = new Random(0);
        File.WriteAllLines(path, Enumerable.Range(0, n).Select(_ =>
        {
            int a = rng.Next(1, 10), b = rng.Next(1, 10);
            return new JsonObject { ["question"] = $"{a}+{b}?", ["target"] = $"{a}+{b}={a + b}. The answer is {a + b}." }.ToJsonString();
        }));
        return path;
    }

    static (int Code, string Out, string Err) Run(params string[] args) => TestUtil.RunCli(args);

    static string[] Sft(string model, string data, string outDir, params string[] extra) =>
        ["sft", "--model", model, "--data", data, "--out", outDir, "--max-steps", "12", "--lr", "5e-3", "--batch-size", "4",
         "--grad-accum", "2", "--lora-r", "4", "--warmup-steps", "2", "--seed", "3", .. extra];

    static Dictionary<string, float[]> Adapter(string dir)
    {
        using var f = SafeTensorsFile.Open(Path.Combine(dir, "adapter_model.safetensors"));
        return f.Entries.ToDictionary(e => e.Name, e => { using var t = f.ReadTensor(e); return t.data<float>().ToArray(); });
    }

    [Fact]
    public void Tiny_run_reaches_its_pinned_loss_and_writes_every_output()
    {
        using var dir = new TestUtil.TempDir();
        var r = Run(Sft(TinyModel(dir), Data(dir), dir["run"]));
        Assert.True(r.Code == 0, r.Err + r.Out);
        var lines = File.ReadAllLines(dir["run/metrics.jsonl"]).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(12, lines.Count);
        double first = lines[0]["loss"]!.GetValue<double>(), last = lines[^1]["loss"]!.GetValue<double>();
        Assert.True(last < first - 0.3, $"loss {first} → {last}");
        // Pinned: the same seed on the same kind of machine gives the same curve.
        Assert.Equal(5.1486, last, 2);
        foreach (var f in new[] { "run_config.json", "loss.png", "summary.json", "adapter/adapter_config.json", "adapter/adapter_model.safetensors" })
            Assert.True(File.Exists(Path.Combine(dir["run"], f)), f);
        Assert.NotEmpty(Directory.GetFiles(dir["run/tb"]));
        Assert.Single(Directory.GetDirectories(dir["run/checkpoints"]));
        Assert.Contains("12 steps", r.Out);
        foreach (var key in new[] { "lr", "grad_norm", "tokens_per_s", "mem_mb", "epoch" }) Assert.NotNull(lines[0][key]);
    }

    [Fact]
    public void Interrupted_and_resumed_run_ends_with_the_same_weights()
    {
        using var dir = new TestUtil.TempDir();
        var model = TinyModel(dir);
        var data = Data(dir);
        Assert.Equal(0, Run(Sft(model, data, dir["full"])).Code);

        var first = Run(Sft(model, data, dir["split"], "--stop-after", "5", "--save-every", "3"));
        Assert.Equal(130, first.Code);
        Assert.Contains("stopped at step 5 of 12", first.Out);
        var again = Run(Sft(model, data, dir["split"]));
        Assert.Equal(1, again.Code);
        Assert.Contains("--resume", again.Err);                          // never overwrites a run silently
        var resumed = Run(Sft(model, data, dir["split"], "--resume"));
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Contains("Resuming", resumed.Out);

        var a = Adapter(dir["full/adapter"]);
        var b = Adapter(dir["split/adapter"]);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var k in a.Keys)
            for (int i = 0; i < a[k].Length; i++) Assert.True(Math.Abs(a[k][i] - b[k][i]) < 1e-6, $"{k}[{i}]: {a[k][i]} vs {b[k][i]}");
        Assert.Equal(12, File.ReadAllLines(dir["split/metrics.jsonl"]).Length);
    }

    [Fact]
    public void Resuming_with_different_settings_is_refused()
    {
        using var dir = new TestUtil.TempDir();
        var model = TinyModel(dir);
        var data = Data(dir);
        Assert.Equal(130, Run(Sft(model, data, dir["r"], "--stop-after", "2")).Code);
        var r = Run([.. Sft(model, data, dir["r"], "--resume"), "--lora-alpha", "64"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("lora_alpha", r.Err);
    }

    [Fact]
    public void Bad_lines_are_reported_with_file_and_line_or_skipped_and_counted()
    {
        using var dir = new TestUtil.TempDir();
        var model = TinyModel(dir);
        var data = Data(dir, 8);
        File.AppendAllLines(data, ["{not json", """{"question":"q"}""", """{"question":"q","target":"  "}"""]);
        var r = Run(Sft(model, data, dir["r"]));
        Assert.Equal(1, r.Code);
        Assert.Contains($"{data}:9: not valid JSON", r.Err);
        Assert.Contains("and 2 more bad lines", r.Err);
        Assert.Contains("--skip-bad-lines", r.Err);
        Assert.False(Directory.Exists(dir["r/checkpoints"]));                // stopped before training
        var ok = Run("sft", "--model", model, "--data", data, "--out", dir["r2"], "--skip-bad-lines", "--max-steps", "1");
        Assert.True(ok.Code == 0, ok.Err);
        Assert.Contains("8 examples used", ok.Out);
        Assert.Contains("3 bad lines skipped", ok.Out);
    }

    [Fact]
    public void Config_file_values_are_used_and_flags_override_them_and_unknown_keys_fail()
    {
        using var dir = new TestUtil.TempDir();
        var model = TinyModel(dir);
        var data = Data(dir, 8);
        File.WriteAllText(dir["c.yaml"], "max_steps: 2\nlr: 0.001\nlora-r: 2\n");
        var r = Run("sft", "--model", model, "--data", data, "--out", dir["a"], "--config", dir["c.yaml"], "--lr", "0.002");
        Assert.True(r.Code == 0, r.Err);
        var cfg = JsonNode.Parse(File.ReadAllText(dir["a/run_config.json"]))!;
        Assert.Equal(2, cfg["max_steps"]!.GetValue<int>());
        Assert.Equal(0.002, cfg["lr"]!.GetValue<double>());
        Assert.Equal(2, cfg["lora_r"]!.GetValue<int>());
        File.WriteAllText(dir["bad.json"], """{"max_steps": 2, "learning_rate": 0.1}""");
        var bad = Run("sft", "--model", model, "--data", data, "--out", dir["b"], "--config", dir["bad.json"]);
        Assert.Equal(1, bad.Code);
        Assert.Contains("unknown setting 'learning_rate'", bad.Err);
        var flag = Run("sft", "--model", model, "--data", data, "--out", dir["c"], "--learning-rate", "1");
        Assert.NotEqual(0, flag.Code);
    }

    [Fact]
    public void Merged_model_generates_what_the_adapter_model_generates()
    {
        using var dir = new TestUtil.TempDir();
        var model = TinyModel(dir);
        Assert.Equal(0, Run(Sft(model, Data(dir), dir["run"])).Code);
        Assert.Equal(0, Run("merge", "--model", model, "--adapter", dir["run/adapter"], "--out", dir["merged"], "--max-shard-bytes", "100000").Code);
        Assert.True(File.Exists(dir["merged/model.safetensors.index.json"]));
        Assert.True(File.Exists(dir["merged/tokenizer.json"]));
        var a = Run("generate", "--model", model, "--adapter", dir["run/adapter"], "--prompt", "3+4?", "--chat", "--max-new-tokens", "12", "--json");
        var b = Run("generate", "--model", dir["merged"], "--prompt", "3+4?", "--chat", "--max-new-tokens", "12", "--json");
        Assert.Equal(0, a.Code);
        Assert.Equal(JsonNode.Parse(a.Out)!["generated_ids"]!.ToJsonString(), JsonNode.Parse(b.Out)!["generated_ids"]!.ToJsonString());
    }
}
