using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.IO;
using Compact.Util;

namespace Compact.Distill;

public sealed record Rationale(string Teacher, string Text);

/// <summary>One question of a multi-teacher dataset: gold answer and the valid rationales of K teachers.</summary>
public sealed record MtQuestion(string Id, string Question, string Answer, IReadOnlyList<Rationale> Rationales,
    string? Domain = null, IReadOnlyList<string>? Choices = null, int Line = 0)
{
    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["id"] = Id,
            ["question"] = Question,
            ["answer"] = Answer,
            ["rationales"] = new JsonArray(Rationales.Select(r => (JsonNode)new JsonObject { ["teacher"] = r.Teacher, ["text"] = r.Text }).ToArray()),
        };
        if (Domain is not null) o["domain"] = Domain;
        if (Choices is not null) o["choices"] = new JsonArray(Choices.Select(c => (JsonNode)c).ToArray());
        return o;
    }
}

/// <summary>Reads and writes the multi-teacher dataset: our JSONL ({"id","question","answer","rationales":
/// [{"teacher","text"}], optional "domain", "choices"}) and the COMPACT authors' JSON list
/// ([{"Question","CoT":[...],"Answer"}], whose k-th CoT is named teacher_k).</summary>
public static class MultiTeacherData
{
    public static (List<MtQuestion> Questions, List<string> Problems) Load(string path, bool skipBad = false)
    {
        if (!File.Exists(path)) throw new CompactException($"{path}: file not found.");
        var problems = new List<string>();
        var list = IsJsonList(path) ? ReadAuthors(path, problems) : ReadJsonl(path, problems);
        var dup = list.GroupBy(q => q.Id).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            problems.Add($"{path}:{dup.Skip(1).First().Line}: duplicate id \"{dup.Key}\" (first on line {dup.First().Line})");
            var seen = new HashSet<string>();
            list = list.Where(q => seen.Add(q.Id)).ToList();
        }
        if (problems.Count > 0 && !skipBad)
            throw new CompactException($"{problems[0]}{(problems.Count > 1 ? $" (and {problems.Count - 1} more problems)" : "")}; fix the data or pass --skip-bad-lines.");
        if (list.Count == 0) throw new CompactException($"{path}: no questions with rationales.");
        return (list, problems);
    }

    static bool IsJsonList(string path)
    {
        using var r = new StreamReader(path);
        int c;
        while ((c = r.Read()) >= 0) if (!char.IsWhiteSpace((char)c)) return c == '[';
        return false;
    }

    static List<MtQuestion> ReadJsonl(string path, List<string> problems)
    {
        var list = new List<MtQuestion>();
        foreach (var (line, o) in Jsonl.Read(path, (n, why) => { problems.Add($"{path}:{n}: {why}"); return true; }))
        {
            var q = Parse(o, path, line, problems);
            if (q is not null) list.Add(q);
        }
        return list;
    }

    static MtQuestion? Parse(JsonObject o, string path, int line, List<string> problems)
    {
        string? S(string k) => o[k] is JsonValue v && v.TryGetValue<string>(out var s) ? s : o[k] is JsonValue n && n.TryGetValue<double>(out var d) ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        var question = S("question");
        var answer = S("answer");
        if (string.IsNullOrWhiteSpace(question)) { problems.Add($"{path}:{line}: missing \"question\""); return null; }
        if (string.IsNullOrWhiteSpace(answer)) { problems.Add($"{path}:{line}: missing \"answer\""); return null; }
        if (o["rationales"] is not JsonArray arr) { problems.Add($"{path}:{line}: missing \"rationales\" list"); return null; }
        var rs = new List<Rationale>();
        for (int i = 0; i < arr.Count; i++)
        {
            if (arr[i] is not JsonObject r || r["teacher"] is not JsonValue t || !t.TryGetValue<string>(out var teacher) || string.IsNullOrWhiteSpace(teacher)
                || r["text"] is not JsonValue x || !x.TryGetValue<string>(out var text))
            {
                problems.Add($"{path}:{line}: rationale {i + 1} needs \"teacher\" and \"text\" strings");
                return null;
            }
            if (string.IsNullOrWhiteSpace(text)) { problems.Add($"{path}:{line}: rationale {i + 1} ({teacher}) is empty"); return null; }
            rs.Add(new Rationale(teacher, text));
        }
        if (rs.Count == 0) { problems.Add($"{path}:{line}: no rationales"); return null; }
        var choices = o["choices"] is JsonArray ca ? ca.Select(c => c?.ToString() ?? "").ToList() : null;
        return new MtQuestion(S("id") ?? $"q{line}", question, answer, rs, S("domain"), choices, line);
    }

    static List<MtQuestion> ReadAuthors(string path, List<string> problems)
    {
        JsonArray arr;
        try { arr = JsonNode.Parse(File.ReadAllText(path)) as JsonArray ?? throw new JsonException("not a list"); }
        catch (JsonException e) { throw new CompactException($"{path}: not valid JSON ({e.Message.Split('.')[0]})."); }
        var list = new List<MtQuestion>();
        for (int i = 0; i < arr.Count; i++)
        {
            if (arr[i] is not JsonObject o) { problems.Add($"{path}: item {i + 1} is not an object"); continue; }
            if (o.ContainsKey("question") || o.ContainsKey("rationales"))
            {
                var q = Parse(o, path, i + 1, problems);
                if (q is not null) list.Add(q);
                continue;
            }
            string? question = o["Question"]?.ToString(), answer = o["Answer"]?.ToString();
            if (string.IsNullOrWhiteSpace(question) || string.IsNullOrWhiteSpace(answer) || o["CoT"] is not JsonArray cot)
            {
                problems.Add($"{path}: item {i + 1} needs \"Question\", \"CoT\" (a list) and \"Answer\"");
                continue;
            }
            var rs = cot.Select((c, k) => new Rationale($"teacher_{k + 1}", c?.ToString() ?? "")).Where(r => !string.IsNullOrWhiteSpace(r.Text)).ToList();
            if (rs.Count == 0) { problems.Add($"{path}: item {i + 1} has no non-empty CoT"); continue; }
            list.Add(new MtQuestion($"q{i + 1}", question, answer, rs, Line: i + 1));
        }
        return list;
    }

    public static void Write(string path, IEnumerable<MtQuestion> questions) =>
        AtomicFile.WriteAllText(path, string.Concat(questions.Select(q => q.ToJson().ToJsonString(Compact.Util.Jsonl.Options) + "\n")));

    /// <summary>Teacher names in order of first appearance.</summary>
    public static IReadOnlyList<string> Teachers(IEnumerable<MtQuestion> qs) =>
        qs.SelectMany(q => q.Rationales.Select(r => r.Teacher)).Distinct().ToList();
}
