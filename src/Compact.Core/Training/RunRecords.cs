using System.Text.Json;
using System.Text.Json.Serialization;

namespace Compact.Training;

/// <summary>How run files (run_config.json, metrics.jsonl, summary.json, scores.jsonl) are written and read: the
/// project's readable JSON (UTF-8 as it is), enums as kebab-case words ("truncate-start", "mcc"), non-finite numbers as
/// "NaN"/"Infinity" rather than an exception. System.Text.Json formats and parses numbers in the invariant culture.</summary>
public static class RunJson
{
    public static readonly JsonSerializerOptions Line = Make(false);
    public static readonly JsonSerializerOptions Indented = Make(true);

    static JsonSerializerOptions Make(bool indented) => new(indented ? Util.Jsonl.Indented : Util.Jsonl.Options)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
    };

    /// <summary>Reads one record of type T from a file, with a one-line error naming the file and what is wrong.</summary>
    public static T ReadFile<T>(string path) where T : class
    {
        if (!File.Exists(path)) throw new CompactException($"{path}: file not found.");
        try { return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Indented) ?? throw new JsonException("the file holds null"); }
        catch (JsonException e)
        {
            throw new CompactException($"{path}: not a valid {typeof(T).Name} ({FirstSentence(e.Message)}); fix or delete the file.");
        }
    }

    public static void WriteFile<T>(string path, T value) => IO.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, Indented) + "\n");

    static string FirstSentence(string m) => m.Split(". ")[0].TrimEnd('.');
}

/// <summary>One question of a step (or of `compact score`), per teacher in branch order: the three compatibility
/// scores, their z-scores within the question, the fused logit and the weight α (METHOD: fusion). A mode that does
/// not compute scores (uniform weights) logs zeros for them. One line of scores.jsonl; `items` of a metrics line.</summary>
public sealed record QuestionRecord
{
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("teachers")] public required IReadOnlyList<string> Teachers { get; init; }
    [JsonPropertyName("s_ppl")] public required IReadOnlyList<double> SPpl { get; init; }
    [JsonPropertyName("s_cons")] public required IReadOnlyList<double> SCons { get; init; }
    [JsonPropertyName("s_mi")] public required IReadOnlyList<double> SMi { get; init; }
    [JsonPropertyName("z_ppl")] public required IReadOnlyList<double> ZPpl { get; init; }
    [JsonPropertyName("z_cons")] public required IReadOnlyList<double> ZCons { get; init; }
    [JsonPropertyName("z_mi")] public required IReadOnlyList<double> ZMi { get; init; }
    [JsonPropertyName("fused")] public required IReadOnlyList<double> Fused { get; init; }
    [JsonPropertyName("alpha")] public required IReadOnlyList<double> Alpha { get; init; }
    /// <summary>train or eval: where COMPACT's scores came from (only for scored questions with K &gt; 1).</summary>
    [JsonPropertyName("score_mode")] public string? ScoreMode { get; init; }

    /// <summary>Mean α per teacher over some questions (the teacher-weight curve's point for a step); null when none.</summary>
    public static IReadOnlyDictionary<string, double>? MeanAlpha(IEnumerable<QuestionRecord> items)
    {
        var sums = new SortedDictionary<string, (double Sum, int N)>(StringComparer.Ordinal);
        foreach (var it in items)
            for (int i = 0; i < it.Teachers.Count && i < it.Alpha.Count; i++)
            {
                var (s, n) = sums.GetValueOrDefault(it.Teachers[i]);
                sums[it.Teachers[i]] = (s + it.Alpha[i], n + 1);
            }
        return sums.Count == 0 ? null : sums.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value.Sum / kv.Value.N, 6), StringComparer.Ordinal);
    }
}

/// <summary>One line of metrics.jsonl: one optimizer step. Loss parts (loss_sft, loss_cons, …) are named by the recipe
/// and stored beside the fixed fields; they are token-weighted over the step's micro-batches like the loss.</summary>
public sealed record StepRecord
{
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("epoch")] public int? Epoch { get; init; }
    [JsonPropertyName("loss")] public double? Loss { get; init; }
    [JsonPropertyName("lr")] public double? Lr { get; init; }
    [JsonPropertyName("grad_norm")] public double? GradNorm { get; init; }
    /// <summary>Target tokens of the step (every micro-batch).</summary>
    [JsonPropertyName("tokens")] public long? Tokens { get; init; }
    [JsonPropertyName("tokens_per_s")] public double? TokensPerSecond { get; init; }
    [JsonPropertyName("elapsed_s")] public double? ElapsedSeconds { get; init; }
    [JsonPropertyName("mem_mb")] public long? MemoryMb { get; init; }
    /// <summary>Mean α per teacher over the step's questions (distillation only).</summary>
    [JsonPropertyName("alpha_mean")] public IReadOnlyDictionary<string, double>? AlphaMean { get; init; }
    [JsonPropertyName("items")] public IReadOnlyList<QuestionRecord>? Items { get; init; }
    /// <summary>The loss parts, as stored (other unknown keys of older logs land here too and are ignored).</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    /// <summary>The named loss parts (keys starting with loss_), in key order.</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, double> LossParts =>
        (Extra ?? []).Where(kv => kv.Key.StartsWith("loss_", StringComparison.Ordinal) && kv.Value.ValueKind == JsonValueKind.Number)
            .OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value.GetDouble(), StringComparer.Ordinal);

    public static Dictionary<string, JsonElement> Parts(IEnumerable<KeyValuePair<string, double>> parts) =>
        parts.ToDictionary(kv => kv.Key, kv => JsonSerializer.SerializeToElement(kv.Value, RunJson.Line), StringComparer.Ordinal);

    public string ToLine() => JsonSerializer.Serialize(this, RunJson.Line);

    /// <summary>The step records of a metrics.jsonl; a line that is not one (damaged, hand-edited) is skipped.</summary>
    public static IEnumerable<StepRecord> ReadAll(string path)
    {
        if (!File.Exists(path)) yield break;
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            StepRecord? r = null;
            try { r = JsonSerializer.Deserialize<StepRecord>(line, RunJson.Line); }
            catch (JsonException) { }
            if (r is not null) yield return r;
        }
    }
}

/// <summary>summary.json, written when a training run finishes (sft, distill) with where its result is.</summary>
public sealed record RunSummary
{
    /// <summary>"sft", "distill compact", "distill mot", …</summary>
    [JsonPropertyName("verb")] public string? Verb { get; init; }
    [JsonPropertyName("method")] public string? Method { get; init; }
    [JsonPropertyName("steps")] public int? Steps { get; init; }
    [JsonPropertyName("final_loss")] public double? FinalLoss { get; init; }
    [JsonPropertyName("seconds")] public double? Seconds { get; init; }
    [JsonPropertyName("tokens_per_s")] public double? TokensPerSecond { get; init; }
    /// <summary>The exported adapter/ or model/ folder (absolute).</summary>
    [JsonPropertyName("output")] public required string Output { get; init; }
    [JsonPropertyName("teacher_weights_png")] public string? TeacherWeightsPng { get; init; }
    /// <summary>sft: what was read from the data file.</summary>
    [JsonPropertyName("data")] public string? Data { get; init; }

    public const string FileName = "summary.json";

    /// <summary>From an engine run's summary (rounded as people read it).</summary>
    public static RunSummary From(string verb, TrainSummary s, string output) => new()
    {
        Verb = verb, Steps = s.Steps, FinalLoss = double.IsFinite(s.FinalLoss) ? s.FinalLoss : null,
        Seconds = Math.Round(s.Seconds, 1), TokensPerSecond = Math.Round(s.TokensPerSecond, 1), Output = Path.GetFullPath(output),
    };

    public void Write(string runDir) => RunJson.WriteFile(Path.Combine(runDir, FileName), this);

    /// <summary>The summary in a run folder, or null when there is none or it is not one.</summary>
    public static RunSummary? TryRead(string runDir)
    {
        var path = Path.Combine(runDir, FileName);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<RunSummary>(File.ReadAllText(path), RunJson.Indented); }
        catch (JsonException) { return null; }
    }
}
