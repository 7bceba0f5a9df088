using System.Text.Json;

namespace Compact.Benchmarks;

/// <summary>Loads a benchmark file by name. (Named BenchmarkLoader, not Benchmarks, so that code in any
/// <c>Compact.*</c> namespace can call it without the namespace <c>Compact.Benchmarks</c> shadowing the class.)</summary>
public static class BenchmarkLoader
{
    /// <summary>The names <see cref="Load"/> accepts, besides "auto".</summary>
    public static IReadOnlyList<string> Names { get; } = ["gsm8k", "svamp", "math500", "csqa", "strategyqa", "gpqa", "arc"];

    /// <summary>Reads <paramref name="path"/> as benchmark <paramref name="name"/> (gsm8k, svamp, math500, csqa,
    /// strategyqa, gpqa, arc; a few aliases such as "math", "commonsenseqa", "gpqa_diamond", "arc_challenge"), or "auto"
    /// to tell the format from the first record. JSON Lines, JSON arrays and BIG-bench task files are accepted.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">A malformed record: the message names the file and line and the fix.</exception>
    /// <exception cref="ArgumentException">An unknown benchmark name.</exception>
    public static IReadOnlyList<BenchItem> Load(string name, string path)
    {
        var key = Canonical(name);
        var records = JsonRecords.Read(path);
        if (key == "auto") key = Detect(records[0]);
        return key switch
        {
            "gsm8k" => Gsm8kReader.Parse(records),
            "svamp" => SvampReader.Parse(records),
            "math500" => Math500Reader.Parse(records),
            "csqa" or "arc" => CsqaReader.Parse(records),          // ARC has CommonsenseQA's Hugging Face layout
            "strategyqa" => StrategyQaReader.Parse(records),
            "gpqa" => GpqaReader.Parse(records),
            _ => throw new InvalidOperationException(key),
        };
    }

    /// <summary>Which benchmark a file holds, judged from its first record (see <see cref="Load"/>).</summary>
    public static string Detect(string path) => Detect(JsonRecords.Read(path)[0]);

    private static string Canonical(string name) => name.Trim().ToLowerInvariant().Replace("-", "").Replace("_", "") switch
    {
        "gsm8k" => "gsm8k",
        "svamp" => "svamp",
        "math500" or "math" => "math500",
        "csqa" or "commonsenseqa" => "csqa",
        "strategyqa" => "strategyqa",
        "gpqa" or "gpqadiamond" => "gpqa",
        "arc" or "arcchallenge" or "arcc" => "arc",
        "auto" => "auto",
        _ => throw new ArgumentException($"Unknown benchmark \"{name}\"; use one of {string.Join(", ", Names)} or auto.", nameof(name)),
    };

    internal static string Detect(JsonRecord r)
    {
        var e = r.Element;
        bool Has(string n) => e.TryGetProperty(n, out var v) && v.ValueKind != JsonValueKind.Null;
        JsonValueKind KindOf(string n) => e.TryGetProperty(n, out var v) ? v.ValueKind : JsonValueKind.Undefined;

        if (Has("Correct Answer")) return "gpqa";
        if (Has("Body") && Has("Question")) return "svamp";
        if (Has("problem") && (Has("solution") || Has("answer"))) return "math500";
        if (Has("input") && Has("target_scores")) return "strategyqa";                     // BIG-bench task example
        // ARC (Hugging Face allenai/ai2_arc): CommonsenseQA's Hugging Face layout without its question_concept.
        if (Has("answerKey") && KindOf("question") == JsonValueKind.String && KindOf("choices") == JsonValueKind.Object && !Has("question_concept")) return "arc";
        if (Has("answerKey") || KindOf("question") == JsonValueKind.Object || KindOf("choices") == JsonValueKind.Object) return "csqa";
        if (Has("question") && KindOf("answer") is JsonValueKind.True or JsonValueKind.False) return "strategyqa";
        if (Has("question") && Has("choices")) return "csqa";
        if (Has("question") && KindOf("answer") == JsonValueKind.String && e.GetProperty("answer").GetString()!.Contains("####", StringComparison.Ordinal)) return "gsm8k";
        var keys = string.Join(", ", e.EnumerateObject().Select(p => p.Name).Take(12));
        throw r.Error($"cannot tell which benchmark this is from its first record (keys: {keys})",
            $"pass the benchmark name ({string.Join(", ", Names)}) instead of auto");
    }
}
