using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.IO;
using Compact.Util;

namespace Compact.Eval;

/// <summary>The comparison of several models on several benchmarks: rows = models, columns = benchmarks, cells
/// "accuracy ± SEM (n)" in percent; with two models or more, one "Δ bench vs baseline" column per benchmark gives each
/// model's accuracy change in points against the baseline (the model named "base", else the first), ± its paired
/// standard error when both were scored on the same questions (<see cref="DeltaSe"/>). Evaluating the base and the
/// tuned students on an "original knowledge" benchmark, a negative Δ there measures forgetting.</summary>
public sealed class EvalReport(IReadOnlyList<string> models, IReadOnlyList<string> benches, IReadOnlyList<BenchResult> results)
{
    public const string BaselineName = "base";

    public IReadOnlyList<string> Models => models;
    public IReadOnlyList<string> Benches => benches;
    public IReadOnlyList<BenchResult> Results => results;

    /// <summary>The model others are compared with: "base" when present, else the first; null with a single model.</summary>
    public string? Baseline => models.Count < 2 ? null : models.Contains(BaselineName) ? BaselineName : models[0];

    public BenchResult? Get(string model, string bench) => results.FirstOrDefault(r => r.Model == model && r.Bench == bench);

    /// <summary>Accuracy of <paramref name="model"/> minus the baseline's on <paramref name="bench"/>, in percentage points.</summary>
    public double? DeltaPoints(string model, string bench) =>
        Baseline is { } b && Get(model, bench) is { Score.N: > 0 } r && Get(b, bench) is { Score.N: > 0 } rb
            ? 100 * (r.Score.Accuracy - rb.Score.Accuracy)
            : null;

    /// <summary>Paired standard error of <see cref="DeltaPoints"/>, in points, when both models were scored on the same
    /// questions: with d_i = correct_model,i − correct_baseline,i ∈ {−1, 0, 1} over those n questions,
    /// SE = sqrt((mean(d²) − mean(d)²) / n) — the SEM of the per-question differences, with the same 1/n variance as
    /// <see cref="Score.Sem"/>. Pairing removes what the two share (questions both get right or both miss), so it is
    /// usually well below the two SEMs combined. Null when the question sets differ (a server left some unanswered)
    /// or either side is missing.</summary>
    public double? DeltaSe(string model, string bench)
    {
        if (Baseline is not { } b || Get(model, bench) is not { Verdicts: { Count: > 0 } vm } || Get(b, bench) is not { Verdicts: { } vb }
            || vm.Count != vb.Count || !vm.Keys.All(vb.ContainsKey))
            return null;
        double sum = 0, sumSq = 0;
        foreach (var (id, c) in vm)
        {
            int d = (c ? 1 : 0) - (vb[id] ? 1 : 0);
            sum += d;
            sumSq += d * d;
        }
        double n = vm.Count, mean = sum / n;
        return 100 * Math.Sqrt(Math.Max(0, sumSq / n - mean * mean) / n);
    }

    public IReadOnlyList<string> Headers =>
        ["model", .. benches, .. Baseline is { } b ? benches.Select(x => $"Δ {x} vs {b}") : []];

    public IReadOnlyList<IReadOnlyList<string>> Rows => models.Select(m => (IReadOnlyList<string>)
        [m, .. benches.Select(b => Get(m, b)?.Score.Cell() ?? "—"),
         .. Baseline is { } baseline ? benches.Select(b => m == baseline ? "—" : FormatDelta(DeltaPoints(m, b), DeltaSe(m, b))) : []]).ToList();

    /// <summary>"+1.2", "-3.4", "+0.0", with " ± 0.8" when the paired standard error is known; "—" when either side is missing.</summary>
    public static string FormatDelta(double? points, double? se = null) => points is { } p
        ? (p >= 0 ? "+" : "-") + Math.Abs(p).ToString("0.0", CultureInfo.InvariantCulture)
          + (se is { } e ? " ± " + e.ToString("0.0", CultureInfo.InvariantCulture) : "")
        : "—";

    public JsonObject ToJson()
    {
        var res = new JsonObject();
        foreach (var m in models)
        {
            var perBench = new JsonObject();
            foreach (var b in benches)
                if (Get(m, b) is { } r)
                {
                    var o = ScoreJson(r.Score);
                    o["predictions"] = $"{m}/{b}.predictions.jsonl";   // relative to the output folder
                    if (r.BySubject.Count > 0) o["by_subject"] = GroupsJson(r.BySubject);
                    if (r.ByLevel.Count > 0) o["by_level"] = GroupsJson(r.ByLevel);
                    perBench[b] = o;
                }
            res[m] = perBench;
        }
        var json = new JsonObject
        {
            ["models"] = new JsonArray(models.Select(x => (JsonNode)x).ToArray()),
            ["benchmarks"] = new JsonArray(benches.Select(x => (JsonNode)x).ToArray()),
            ["sem"] = "sqrt(p(1-p)/n)",
            ["baseline"] = Baseline,
            ["results"] = res,
        };
        if (Baseline is { } baseline)
        {
            var f = new JsonObject();
            foreach (var m in models.Where(m => m != baseline))
            {
                var row = new JsonObject();
                foreach (var b in benches) row[b] = DeltaPoints(m, b) is { } d ? Math.Round(d, 4) : null;
                f[m] = row;
            }
            json["forgetting_points"] = f;
            var se = new JsonObject();
            foreach (var m in models.Where(m => m != baseline))
            {
                var row = new JsonObject();
                foreach (var b in benches) row[b] = DeltaSe(m, b) is { } d ? Math.Round(d, 4) : null;
                se[m] = row;
            }
            json["forgetting_se_points"] = se;
            json["forgetting_se"] = "paired: sqrt((mean(d^2) - mean(d)^2)/n), d = per-question correct(model) - correct(baseline)";
        }
        return json;
    }

    public string Markdown()
    {
        var sb = new StringBuilder("# Evaluation\n\n");
        sb.Append("Accuracy in percent ± standard error of the mean, sqrt(p(1−p)/n), over n questions.");
        if (Baseline is { } b)
            sb.Append($" Δ: accuracy change in points against `{b}` on the same benchmark (negative on an original-knowledge benchmark = forgetting), "
                + "± the paired standard error over the questions both were scored on, sqrt((mean(d²) − mean(d)²)/n) with d the per-question difference in correctness.");
        sb.Append("\n\n").Append(Tables.Markdown(Headers, Rows));
        foreach (var (title, pick) in new (string, Func<BenchResult, IReadOnlyList<Group>>)[] { ("subject", r => r.BySubject), ("level", r => r.ByLevel) })
            foreach (var bench in benches)
            {
                var keys = models.Select(m => Get(m, bench)).Where(r => r is not null).SelectMany(r => pick(r!).Select(g => g.Key)).Distinct().ToList();
                if (keys.Count == 0) continue;
                var headers = new List<string> { "model" };
                headers.AddRange(keys.Select(k => title == "level" ? $"level {k}" : k));
                var rows = models.Select(m => (IReadOnlyList<string>)
                    [m, .. keys.Select(k => Get(m, bench) is { } r && pick(r).FirstOrDefault(g => g.Key == k) is { } g ? g.Score.Cell() : "—")]).ToList();
                sb.Append(CultureInfo.InvariantCulture, $"\n## {bench} by {title}\n\n").Append(Tables.Markdown(headers, rows));
            }
        return sb.ToString();
    }

    public string Csv() => Tables.Csv(Headers, Rows);

    /// <summary>Writes results.json, results.md and results.csv into <paramref name="outDir"/>, each atomically.</summary>
    public void Write(string outDir)
    {
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.json"), ToJson().ToJsonString(Compact.Util.Jsonl.Indented));
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.md"), Markdown());
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.csv"), Csv());
    }

    static JsonObject ScoreJson(Score s) => new()
    {
        ["n"] = s.N,
        ["correct"] = s.Correct,
        ["accuracy"] = s.N > 0 ? s.Accuracy : null,
        ["sem"] = s.N > 0 ? s.Sem : null,
    };

    static JsonObject GroupsJson(IReadOnlyList<Group> groups)
    {
        var o = new JsonObject();
        foreach (var g in groups) o[g.Key] = ScoreJson(g.Score);
        return o;
    }
}
