using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Util;
using YamlDotNet.RepresentationModel;

namespace Compact.Teach;

/// <summary>One teacher: an OpenAI-compatible endpoint and how to ask it.</summary>
public sealed record TeacherSpec
{
    public required string Name { get; init; }
    /// <summary>Base URL of the OpenAI-compatible API, e.g. http://localhost:8000/v1 (vLLM) or http://localhost:11434/v1 (Ollama).</summary>
    public required string BaseUrl { get; init; }
    public required string Model { get; init; }
    /// <summary>Environment variable holding the API key (none: no key is sent).</summary>
    public string? ApiKeyEnv { get; init; }
    /// <summary>User message template: {question}, and {choices} for multiple choice.</summary>
    public string Prompt { get; init; } = DefaultPrompt;
    public string? System { get; init; }
    /// <summary>Sampling temperature; null leaves it out of the request (some reasoning models reject it).</summary>
    public double? Temperature { get; init; } = 0.7;
    public int MaxTokens { get; init; } = 1024;
    /// <summary>The request field that carries MaxTokens: max_tokens (most servers) or max_completion_tokens (OpenAI reasoning models).</summary>
    public string MaxTokensField { get; init; } = "max_tokens";
    /// <summary>Stop strings sent as "stop" (none: not sent).</summary>
    public IReadOnlyList<string>? Stop { get; init; }
    /// <summary>Any JSON merged into the request body last (chat_template_kwargs, reasoning_effort, top_k, …).</summary>
    public JsonObject? ExtraBody { get; init; }
    /// <summary>What the rationale is made of: the reasoning followed by the answer text (default), the answer text only, or the reasoning only.</summary>
    public RationaleSource Rationale { get; init; } = RationaleSource.ReasoningAndContent;
    public int Samples { get; init; } = 1;
    public int Concurrency { get; init; } = 4;
    public double TimeoutSeconds { get; init; } = 120;
    public int MaxRetries { get; init; } = 8;

    public const string DefaultPrompt =
        "Solve the following problem step by step. End with a line of the form \"The answer is: <answer>\".\n\n{question}{choices}";

    public string Render(BenchItem q)
    {
        var choices = q.Choices is { Count: > 0 }
            ? "\n\nOptions:\n" + string.Join("\n", q.Choices.Select((c, i) => $"({ChoiceChecker.LetterOf(i)}) {c}"))
            : "";
        return Prompt.Replace("{question}", q.Question).Replace("{choices}", choices);
    }
}

/// <summary>teachers.yaml `rationale:` reasoning+content | content | reasoning.</summary>
public enum RationaleSource { ReasoningAndContent, Content, Reasoning }

public static class TeachersFile
{
    static readonly HashSet<string> Keys =
        ["name", "base_url", "model", "api_key_env", "prompt", "system", "temperature", "max_tokens", "max_tokens_field", "stop", "extra_body",
         "rationale", "samples", "concurrency", "timeout_s", "max_retries"];

    /// <summary>Reads a YAML or JSON teachers file: a list of teachers, or {"teachers": [...]}. Unknown keys,
    /// missing fields, duplicate names and out-of-range numbers are refused with the file and the teacher named.</summary>
    public static List<TeacherSpec> Load(string path)
    {
        if (!File.Exists(path)) throw new CompactException($"--teachers {path}: file not found.");
        var text = File.ReadAllText(path);
        JsonNode? root;
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || text.TrimStart().StartsWith('{') || text.TrimStart().StartsWith('['))
        {
            try { root = JsonNode.Parse(text); }
            catch (JsonException e) { throw new CompactException($"{path}: not valid JSON ({e.Message.Split('.')[0]})."); }
        }
        else root = YamlToJson(path, text);
        var list = root switch
        {
            JsonArray a => a,
            JsonObject o when o["teachers"] is JsonArray a => a,
            _ => throw new CompactException($"{path}: expected a list of teachers (or \"teachers:\" with a list)."),
        };
        var result = new List<TeacherSpec>();
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] is not JsonObject t) throw new CompactException($"{path}: teacher {i + 1} must be a mapping.");
            string where = $"{path}: teacher {i + 1}{(t["name"] is JsonValue nv ? $" ({nv})" : "")}";
            var unknown = t.Select(kv => kv.Key).Where(k => !Keys.Contains(k)).ToList();
            if (unknown.Count > 0) throw new CompactException($"{where}: unknown key '{unknown[0]}'; valid keys: {string.Join(", ", Keys)}.");
            string Req(string k) => t[k] is JsonValue v && v.ToString().Trim().Length > 0 ? v.ToString().Trim()
                : throw new CompactException($"{where}: missing \"{k}\".");
            double Num(string k, double d, double min, double max)
            {
                if (t[k] is null) return d;
                if (t[k] is not JsonValue v || !double.TryParse(v.ToString(), System.Globalization.CultureInfo.InvariantCulture, out var x) || x < min || x > max)
                    throw new CompactException($"{where}: \"{k}\" must be a number in [{min}, {max}].");
                return x;
            }
            int Whole(string k, int d, int min, int max)
            {
                var x = Num(k, d, min, max);
                if (x != Math.Floor(x)) throw new CompactException($"{where}: \"{k}\" must be a whole number in [{min}, {max}] (got {x.ToString(System.Globalization.CultureInfo.InvariantCulture)}).");
                return (int)x;
            }
            string? Str(string k) => t[k] switch
            {
                null => null,
                JsonValue v when v.TryGetValue<string>(out var sv) => sv,
                _ => throw new CompactException($"{where}: \"{k}\" must be a string."),
            };
            var stop = t["stop"] switch
            {
                null => null,
                JsonValue v when v.TryGetValue<string>(out var sv) => [sv],
                JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue<string>(out _)) => a.Select(x => x!.GetValue<string>()).ToList(),
                _ => throw new CompactException($"{where}: \"stop\" must be a string or a list of strings."),
            };
            var extra = t["extra_body"] switch
            {
                null => null,
                JsonObject eo => (JsonObject)eo.DeepClone(),
                _ => throw new CompactException($"{where}: \"extra_body\" must be a mapping (e.g. extra_body: {{chat_template_kwargs: {{enable_thinking: true}}}})."),
            };
            var field = Str("max_tokens_field") ?? "max_tokens";
            if (field is not ("max_tokens" or "max_completion_tokens"))
                throw new CompactException($"{where}: \"max_tokens_field\" must be max_tokens or max_completion_tokens (got \"{field}\").");
            var rationale = (Str("rationale") ?? "reasoning+content") switch
            {
                "reasoning+content" => RationaleSource.ReasoningAndContent,
                "content" => RationaleSource.Content,
                "reasoning" => RationaleSource.Reasoning,
                var other => throw new CompactException($"{where}: \"rationale\" must be reasoning+content, content or reasoning (got \"{other}\")."),
            };
            var spec = new TeacherSpec
            {
                Name = Req("name"),
                BaseUrl = Req("base_url").TrimEnd('/'),
                Model = Req("model"),
                ApiKeyEnv = Str("api_key_env"),
                Prompt = Str("prompt") ?? TeacherSpec.DefaultPrompt,
                System = Str("system"),
                // `temperature: null` (present, empty) leaves it out of the request; absent means 0.7.
                Temperature = t.ContainsKey("temperature") && t["temperature"] is null ? null : Num("temperature", 0.7, 0, 2),
                MaxTokens = Whole("max_tokens", 1024, 1, 1_000_000),
                MaxTokensField = field,
                Stop = stop,
                ExtraBody = extra,
                Rationale = rationale,
                Samples = Whole("samples", 1, 1, 100),
                Concurrency = Whole("concurrency", 4, 1, 1024),
                TimeoutSeconds = Num("timeout_s", 120, 0.1, 86400),
                MaxRetries = Whole("max_retries", 8, 0, 100),
            };
            if (!Uri.TryCreate(spec.BaseUrl, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
                throw new CompactException($"{where}: base_url '{spec.BaseUrl}' is not an http(s) URL (e.g. http://localhost:8000/v1).");
            if (!spec.Prompt.Contains("{question}")) throw new CompactException($"{where}: prompt must contain {{question}}.");
            if (result.Any(r => r.Name == spec.Name)) throw new CompactException($"{where}: duplicate teacher name '{spec.Name}'.");
            result.Add(spec);
        }
        if (result.Count == 0) throw new CompactException($"{path}: no teachers.");
        return result;
    }

    static JsonNode? YamlToJson(string path, string text)
    {
        var ys = new YamlStream();
        try { using var r = new StringReader(text); ys.Load(r); }
        catch (YamlDotNet.Core.YamlException e) { throw new CompactException($"{path}: not valid YAML ({e.Message})."); }
        return ys.Documents.Count == 0 ? null : Convert(ys.Documents[0].RootNode);
    }

    /// <summary>Plain (unquoted) YAML scalars keep their YAML 1.2 core type, so `top_k: 20` in extra_body is sent as a
    /// number and `temperature: null` (or `~`, or nothing) as null; quoted scalars stay strings.</summary>
    static JsonValue? Scalar(YamlScalarNode sc)
    {
        if (sc.Value is null) return null;
        if (sc.Style != YamlDotNet.Core.ScalarStyle.Plain) return JsonValue.Create(sc.Value);
        var v = sc.Value;
        if (v is "" or "~" or "null" or "Null" or "NULL") return null;
        if (v is "true" or "True" or "TRUE") return JsonValue.Create(true);
        if (v is "false" or "False" or "FALSE") return JsonValue.Create(false);
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        if (long.TryParse(v, System.Globalization.NumberStyles.AllowLeadingSign, inv, out var l)) return JsonValue.Create(l);
        if (double.TryParse(v, System.Globalization.NumberStyles.Float, inv, out var d) && !double.IsInfinity(d) && !double.IsNaN(d)) return JsonValue.Create(d);
        return JsonValue.Create(v);
    }

    static JsonNode? Convert(YamlNode n) => n switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value!, Convert(kv.Value)))),
        YamlSequenceNode s => new JsonArray(s.Children.Select(Convert).ToArray()),
        YamlScalarNode sc => Scalar(sc),
        _ => null,
    };
}

/// <summary>Questions with gold answers for `teach`: the benchmark formats, or generic JSONL
/// {"id", "question", "answer"[, "kind", "choices"]}.</summary>
public static class QuestionFiles
{
    public static IReadOnlyList<BenchItem> Load(string path, string format, AnswerKind? kind)
    {
        if (!File.Exists(path)) throw new CompactException($"--questions {path}: file not found.");
        IReadOnlyList<BenchItem> items;
        if (format == "jsonl" || format == "auto" && LooksGeneric(path))
        {
            var list = new List<BenchItem>();
            foreach (var (line, o) in Jsonl.Read(path))
            {
                string? Str(string k) => o[k] is JsonValue v ? v.ToString() : null;
                var q = Str("question") ?? throw new CompactException($"{path}:{line}: missing \"question\".");
                var a = Str("answer") ?? throw new CompactException($"{path}:{line}: missing \"answer\".");
                var k = Str("kind") is { } ks ? Enum.Parse<AnswerKind>(ks, ignoreCase: true) : kind ?? AnswerKind.Numeric;
                var choices = o["choices"] is JsonArray ca ? ca.Select(c => c!.ToString()).ToList() : null;
                list.Add(new BenchItem(Str("id") ?? $"q{line}", q, a, k, choices));
            }
            items = list;
        }
        else
        {
            try { items = BenchmarkLoader.Load(format, path); }
            catch (Exception e) when (e is InvalidDataException or ArgumentException or FileNotFoundException)
            { throw new CompactException(e.Message, e); }
        }
        if (kind is { } forced) items = items.Select(i => i with { Kind = forced }).ToList();
        var dup = items.GroupBy(i => i.Id).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new CompactException($"{path}: question id \"{dup.Key}\" appears {dup.Count()} times; ids must be unique for resuming.");
        if (items.Count == 0) throw new CompactException($"{path}: no questions.");
        return items;
    }

    static bool LooksGeneric(string path)
    {
        var first = File.ReadLines(path).FirstOrDefault(l => l.Trim().Length > 0);
        if (first is null || !first.TrimStart().StartsWith('{')) return false;
        try
        {
            var o = JsonNode.Parse(first) as JsonObject;
            return o is not null && o["question"] is JsonValue && o["answer"] is JsonValue a && !a.ToString().Contains("####");
        }
        catch (JsonException) { return false; }
    }
}
