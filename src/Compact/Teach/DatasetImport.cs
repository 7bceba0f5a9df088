using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.Answers;
using Compact.Distill;

namespace Compact.Teach;

/// <summary>`compact data import`: the COMPACT authors' JSON list ([{"Question", "CoT": [...], "Answer"}]) and the
/// Learn-from-Committee SVAMP file (gpt/gemini/mistral rationales, each [text, score, score], with gold_answer),
/// whose rationales are kept only when their final answer checks against the gold answer.</summary>
public static class DatasetImport
{
    public static readonly string[] CommitteeTeachers = ["gpt", "gemini", "mistral"];

    /// <summary>The questions, and the malformed items skipped (only with <paramref name="skipBad"/>, authors' format).</summary>
    public static (List<MtQuestion> Questions, List<string> Problems) Load(string path, string format, bool skipBad = false)
    {
        if (!File.Exists(path)) throw new CompactException($"{path}: file not found.");
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new CompactException($"{path}: not valid JSON ({e.Message.Split('.')[0]}); data import reads a JSON list of questions."); }
        if (root is not JsonArray arr)
            throw new CompactException($"{path}: expected a JSON list of questions, found {Describe(root)}; data import reads the authors' [{{\"Question\", \"CoT\", \"Answer\"}}, …] "
                + "or the committee file's list (a JSONL dataset needs no import).");
        if (arr.Count == 0) throw new CompactException($"{path}: empty list.");
        var f = format == "auto" ? (arr[0]?["gold_answer"] is not null ? "committee" : "authors") : format;
        return f switch
        {
            "authors" => MultiTeacherData.Load(path, skipBad),
            "committee" => (Committee(path, arr), []),
            _ => throw new CompactException($"unknown --format '{format}'; use auto, authors or committee."),
        };
    }

    static string Describe(JsonNode? n) => n switch
    {
        null => "null",
        JsonObject => "a JSON object",
        JsonValue v => $"a JSON {v.GetValueKind().ToString().ToLowerInvariant()}",
        _ => "something else",
    };

    static List<MtQuestion> Committee(string path, JsonArray arr)
    {
        var list = new List<MtQuestion>();
        for (int i = 0; i < arr.Count; i++)
        {
            var o = arr[i] as JsonObject ?? throw new CompactException($"{path}: item {i + 1} is not an object.");
            var q = o["question"]?.ToString() ?? throw new CompactException($"{path}: item {i + 1} has no \"question\".");
            var gold = o["gold_answer"]?.ToString() ?? throw new CompactException($"{path}: item {i + 1} has no \"gold_answer\".");
            var rs = new List<Rationale>();
            foreach (var t in CommitteeTeachers)
            {
                if (o[$"{t}_rationale"] is not JsonArray r || r.Count == 0 || r[0] is not JsonValue tv) continue;
                var text = tv.ToString().Trim();
                if (text.Length > 0 && AnswerCheck.IsValidRationale(AnswerKind.Numeric, gold, text)) rs.Add(new Rationale(t, text));
            }
            if (rs.Count > 0) list.Add(new MtQuestion(o["id"]?.ToString() ?? $"q{i + 1}", q, gold, rs, "svamp", Line: i + 1));
        }
        return list;
    }
}
