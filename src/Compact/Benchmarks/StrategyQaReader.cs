using System.Text.Json;
using Compact.Answers;

namespace Compact.Benchmarks;

/// <summary>StrategyQA: a JSON array (the official <c>strategyqa_train.json</c>) or JSON Lines with "question" and a
/// boolean "answer" (the strings yes/no/true/false are accepted too), or BIG-bench's task file (items
/// <c>{"input", "target_scores": {"Yes": 0|1, "No": 0|1}, "target": "Yes. explanation"}</c>). Gold = "yes" / "no";
/// Id = qid, id, or "strategyqa/&lt;index&gt;"; GoldSolution = the "facts", joined, or BIG-bench's explanation.</summary>
public static class StrategyQaReader
{
    public static IReadOnlyList<BenchItem> Read(string path) => Parse(JsonRecords.Read(path));

    public static IReadOnlyList<BenchItem> Parse(string content, string source = "<strategyqa>") => Parse(JsonRecords.Parse(content, source));

    internal static IReadOnlyList<BenchItem> Parse(IReadOnlyList<JsonRecord> records)
    {
        const string fix = "each StrategyQA item needs {\"question\", \"answer\": true|false}";
        var items = new List<BenchItem>(records.Count);
        foreach (var r in records)
        {
            if (r.Has("target_scores"))
            {
                items.Add(BigBench(r));
                continue;
            }
            var question = r.Require("question", fix);
            var answer = r.Require("answer", fix);
            var gold = YesNoChecker.Instance.Normalize(answer)
                ?? throw r.Error($"\"answer\" is \"{answer}\", not a boolean", "use true/false (or \"yes\"/\"no\")");
            string? facts = null;
            if (r.Element.TryGetProperty("facts", out var f) && f.ValueKind == JsonValueKind.Array)
                facts = string.Join(" ", f.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()));
            items.Add(new BenchItem(r.OptionalAny("qid", "id") ?? $"strategyqa/{r.Index}", question, gold, AnswerKind.YesNo,
                GoldSolution: string.IsNullOrWhiteSpace(facts) ? null : facts));
        }
        return items;
    }

    /// <summary>A BIG-bench item: gold from target_scores (exactly one of Yes/No scored 1), the explanation after
    /// "Yes." / "No." in target as the reference solution.</summary>
    static BenchItem BigBench(JsonRecord r)
    {
        const string fix = "each BIG-bench StrategyQA example needs {\"input\", \"target_scores\": {\"Yes\": 0|1, \"No\": 0|1}}";
        var question = r.Require("input", fix);
        var ts = r.Element.GetProperty("target_scores");
        int Score(string key) => ts.ValueKind == JsonValueKind.Object && ts.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : -1;
        var (yes, no) = (Score("Yes"), Score("No"));
        if (!(yes == 1 && no == 0 || yes == 0 && no == 1))
            throw r.Error($"\"target_scores\" is {ts.GetRawText()}, not one of Yes/No scored 1 and the other 0", fix);
        var target = r.Optional("target")?.Trim();
        string? explanation = null;
        if (target is not null)
        {
            var lead = yes == 1 ? "Yes." : "No.";
            explanation = (target.StartsWith(lead, StringComparison.OrdinalIgnoreCase) ? target[lead.Length..] : target).Trim();
        }
        return new BenchItem(r.OptionalAny("qid", "id") ?? $"strategyqa/{r.Index}", question.Trim(), yes == 1 ? "yes" : "no", AnswerKind.YesNo,
            GoldSolution: string.IsNullOrWhiteSpace(explanation) ? null : explanation);
    }
}
