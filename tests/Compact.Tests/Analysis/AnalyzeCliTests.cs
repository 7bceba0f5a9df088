using System.Text.Json.Nodes;
using Compact.Cli;
using Compact.Distill;
using Compact.Tests.Training;

namespace Compact.Tests.Analysis;

/// <summary>End to end on a tiny model: distill a few steps, then `analyze shift`, `analyze mi` and `report`.</summary>
public class AnalyzeCliTests
{
    static (int Code, string Out, string Err) Run(params string[] args) => TestUtil.RunCli(args);

    static string Data(TestUtil.TempDir dir)
    {
        var rng = new Random(0);
        var qs = Enumerable.Range(0, 6).Select(i =>
        {
            int a = rng.Next(2, 50), b = rng.Next(2, 50);
            return new MtQuestion($"q{i}", $"What is {a} plus {b}?", $"{a + b}",
            [
                new("t1", $"We add {a} and {b}. So the sum is {a + b}."),
                new("t2", $"First take {a}. Then add {b}. Therefore {a + b}."),
            ]);
        });
        MultiTeacherData.Write(dir["mt.jsonl"], qs);
        File.WriteAllLines(dir["prompts.txt"], Enumerable.Range(0, 6).Select(i => $"How much is {i} times {i + 3}?"));
        return dir["mt.jsonl"];
    }

    [Fact]
    public void Distill_then_analyze_and_report()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var data = Data(dir);
        var d = Run("distill", "--model", model, "--data", data, "--out", dir["run"], "--max-steps", "2", "--grad-accum", "1", "--lr", "5e-2", "--lora-r", "4");
        Assert.True(d.Code == 0, d.Err + d.Out);

        // The base against itself and against the run (its adapter), in one call.
        var s = Run("analyze", "shift", "--base", model, "--tuned", $"{model},{dir["run"]}", "--prompts", dir["prompts.txt"], "--out", dir["run/analysis"],
            "--components", "3");
        Assert.True(s.Code == 0, s.Err + s.Out);
        var shift = JsonNode.Parse(File.ReadAllText(dir["run/analysis/shift.json"]))!;
        Assert.Equal(3, shift["components"]!.GetValue<int>());
        var tuned = shift["tuned"]!.AsArray();
        Assert.Equal(["model", "run"], tuned.Select(t => t!["name"]!.GetValue<string>()));
        var self = tuned[0]!["layers"]!.AsArray().Select(l => l!["shift"]!.GetValue<double>()).ToList();
        var moved = tuned[1]!["layers"]!.AsArray().Select(l => l!["shift"]!.GetValue<double>()).ToList();
        Assert.Equal(3, self.Count);                                                    // embeddings + 2 layers
        Assert.All(self, x => Assert.Equal(0.0, x, 9));
        Assert.Equal(0.0, moved[0], 9);                                                 // LoRA leaves the embeddings alone
        Assert.True(moved[2] > 0, string.Join(", ", moved));
        foreach (var f in new[] { "shift.csv", "shift.png", "pca_layer1.png", "pca_layer2.png" }) Assert.True(File.Exists(dir[$"run/analysis/{f}"]), f);
        Assert.Equal(1 + 2 * 3, File.ReadAllLines(dir["run/analysis/shift.csv"]).Length);

        var mi = Run("analyze", "mi", "--model", model, "--adapter", dir["run/adapter"], "--data", data, "--out", dir["run/analysis"], "--teacher", "t2", "--limit", "2");
        Assert.True(mi.Code == 0, mi.Err + mi.Out);
        Assert.True(File.Exists(dir["run/analysis/mi.png"]) && File.Exists(dir["run/analysis/mi_2.png"]));
        var mij = JsonNode.Parse(File.ReadAllText(dir["run/analysis/mi.json"]))!;
        var q0 = mij["questions"]![0]!;
        Assert.Equal("t2", q0["teacher"]!.GetValue<string>());
        var models = q0["models"]!.AsArray();
        Assert.Equal(["model (base)", "run (tuned)"], models.Select(m => m!["name"]!.GetValue<string>()));
        Assert.Equal(["First", "Therefore"], models[0]!["thinking"]!.AsArray().Select(t => t!["text"]!.GetValue<string>()));
        Assert.Equal(models[0]!["l"]!.AsArray().Count, models[1]!["l"]!.AsArray().Count);
        Assert.NotEqual(models[0]!["l"]![0]!.GetValue<double>(), models[1]!["l"]![0]!.GetValue<double>());

        var r = Run("report", dir["run"]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        var html = File.ReadAllText(dir["run/report.html"]);
        foreach (var part in new[] { "Teacher weights", "PCA shift per layer", "Information-gain trajectory", "data:image/png;base64," }) Assert.Contains(part, html);
        Assert.True(File.Exists(dir["run/report.md"]));

        // User errors: one sentence, exit code 1.
        var bad = Run("analyze", "shift", "--base", model, "--tuned", dir["nowhere"], "--prompts", dir["prompts.txt"], "--out", dir["x"]);
        Assert.Equal(1, bad.Code);
        Assert.Contains("no such folder", bad.Err);
        var one = Run("report", dir["x-missing"]);
        Assert.Equal(1, one.Code);
    }
}
