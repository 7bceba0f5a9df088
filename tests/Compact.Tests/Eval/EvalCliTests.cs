using System.Text.Json.Nodes;
using Compact.Cli;
using Compact.Eval;
using Compact.Tests.Benchmarks;
using Compact.Tests.Training;

namespace Compact.Tests.Eval;

/// <summary>`compact eval` end to end on a tiny random model (it answers wrongly; the files and numbers are checked).</summary>
public class EvalCliTests
{
    static (int Code, string Out, string Err) Run(params string[] args) => TestUtil.RunCli(args);

    static readonly string Gsm8k = BenchmarkFiles.PathOf("gsm8k_test.jsonl");
    static readonly string Math500 = BenchmarkFiles.PathOf("math500_test.jsonl");

    [Fact]
    public void Two_models_on_two_benchmarks_write_predictions_results_and_resume()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        string[] args = ["eval", "--models", $"base={model}", "--models", $"again={model}", "--bench", $"gsm8k={Gsm8k},math500={Math500}",
            "--out", dir["out"], "--limit", "3", "--seed", "5", "--max-new-tokens", "6", "--batch-size", "2", "--few-shot", "1"];
        var r = Run(args);
        Assert.True(r.Code == 0, r.Err + r.Out);

        foreach (var m in new[] { "base", "again" })
            foreach (var b in new[] { "gsm8k", "math500" })
            {
                var lines = EvalFixtures.Lines(EvalRunner.PredictionsPath(dir["out"], m, b));
                Assert.Equal(3, lines.Count);
                Assert.All(lines, l => Assert.NotNull(l["prediction"]));
                Assert.True(File.Exists(EvalRunner.SettingsPath(dir["out"], m, b)));
            }
        var json = JsonNode.Parse(File.ReadAllText(dir["out/results.json"]))!;
        foreach (var m in new[] { "base", "again" })
            foreach (var b in new[] { "gsm8k", "math500" })
            {
                var acc = json["results"]![m]![b]!["accuracy"]!.GetValue<double>();
                Assert.InRange(acc, 0, 1);
                Assert.Equal(3, json["results"]![m]![b]!["n"]!.GetValue<int>());
            }
        Assert.NotNull(json["results"]!["base"]!["math500"]!["by_level"]);
        // The same weights answer the same way: no change against base.
        Assert.Equal(0.0, json["forgetting_points"]!["again"]!["gsm8k"]!.GetValue<double>());
        Assert.Contains("Δ gsm8k vs base", File.ReadAllText(dir["out/results.csv"]));
        Assert.True(File.Exists(dir["out/results.md"]));
        Assert.True(File.Exists(dir["out/eval_config.json"]));
        Assert.Contains("Accuracy (%)", r.Out);

        var again = Run(args);
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("base · gsm8k: ", again.Out);
        Assert.Contains("3 answers from an earlier run", again.Out);
        Assert.Equal(3, File.ReadAllLines(EvalRunner.PredictionsPath(dir["out"], "base", "gsm8k")).Length);
    }

    [Fact]
    public void Bad_input_is_one_sentence_with_the_fix()
    {
        using var dir = new TestUtil.TempDir();
        var model = dir["m"];
        Directory.CreateDirectory(model);     // never loaded: the benchmarks are checked first
        var bad = dir["bad.jsonl"];
        File.WriteAllText(bad, "{\"question\": \"q\", \"answer\": \"#### 3\"}\n{\"question\": \n");

        var r = Run("eval", "--model", model, "--bench", $"gsm9k={Gsm8k}", "--out", dir["o"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("unknown benchmark \"gsm9k\"; use one of gsm8k, svamp, math500", r.Err);
        r = Run("eval", "--model", model, "--bench", $"gsm8k={dir["missing.jsonl"]}", "--out", dir["o"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("not found; check the path", r.Err);
        r = Run("eval", "--model", model, "--bench", $"gsm8k={bad}", "--out", dir["o"]);
        Assert.Equal(1, r.Code);
        Assert.Contains($"{bad}:2: malformed JSON", r.Err);
        Assert.Contains("fix or remove that line", r.Err);
        r = Run("eval", "--adapter", model, "--bench", $"gsm8k={Gsm8k}", "--out", dir["o"]);
        Assert.Contains("--adapter needs --model", r.Err);
        r = Run("eval", "--models", $"a b={model}", "--bench", $"gsm8k={Gsm8k}", "--out", dir["o"]);
        Assert.Contains("must be a plain folder name", r.Err);
        r = Run("eval", "--models", $"a={model}+{dir["nope"]}", "--bench", $"gsm8k={Gsm8k}", "--out", dir["o"]);
        Assert.Contains("no adapter folder", r.Err);
        r = Run("eval", "--model", model, "--bench", $"gsm8k={Gsm8k}", "--out", dir["o"], "--few-shot", "2");
        Assert.Contains("only 0 items are left for 2 few-shot examples", r.Err);
        Assert.False(File.Exists(dir["o/results.json"]));
    }
}
