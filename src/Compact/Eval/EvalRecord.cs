using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Training;

namespace Compact.Eval;

/// <summary>One line of OUT/&lt;model&gt;/&lt;bench&gt;.predictions.jsonl: the question, the gold answer, the final
/// answer text ("prediction"; the whole completion unless it holds a think block), the reasoning when there is any,
/// the answer found in the final text (as written and normalised; null when none), the verdict with its reason,
/// subject/level when the item has them, and what the server said about the reply (finish_reason, attempts, latency,
/// tokens). Written and read (on resume) by this type.</summary>
public sealed record EvalRecord
{
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("question")] public string? Question { get; init; }
    [JsonPropertyName("gold")] public string? Gold { get; init; }
    [JsonPropertyName("prediction")] public string? Prediction { get; init; }
    [JsonPropertyName("reasoning")] public string? Reasoning { get; init; }
    [JsonPropertyName("extracted"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Extracted { get; init; }
    [JsonPropertyName("normalized"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Normalized { get; init; }
    [JsonPropertyName("correct")] public required bool Correct { get; init; }
    [JsonPropertyName("reason")] public string? Reason { get; init; }
    [JsonPropertyName("subject")] public string? Subject { get; init; }
    [JsonPropertyName("level")] public string? Level { get; init; }
    [JsonPropertyName("finish_reason")] public string? FinishReason { get; init; }
    /// <summary>Requests it took (an answering server's retries included).</summary>
    [JsonPropertyName("attempts")] public int? Attempts { get; init; }
    [JsonPropertyName("latency_s")] public double? LatencySeconds { get; init; }
    [JsonPropertyName("prompt_tokens")] public int? PromptTokens { get; init; }
    [JsonPropertyName("completion_tokens")] public int? CompletionTokens { get; init; }

    /// <summary>Checks a reply against the item. A refusal or an empty final answer is wrong, with that as its reason.</summary>
    public static EvalRecord From(BenchItem item, Reply reply, string source = "")
    {
        var (reasoning, final) = reply.Split();
        AnswerResult r;
        if (reply.Refusal is { } refusal) r = new AnswerResult(null, null, false, refusal);
        else if (string.IsNullOrWhiteSpace(final))
            r = new AnswerResult(null, null, false, reasoning is not null
                ? $"no final answer after the reasoning{(reply.FinishReason == "length" ? " (it ran out of tokens; raise --max-new-tokens)" : "")}"
                : "empty reply");
        else
        {
            try { r = AnswerCheck.Check(item.Kind, item.Gold, final, item.Choices, item.Extraction); }
            catch (InvalidDataException e) { throw new CompactException($"{source} item {item.Id}: {e.Message}", e); }
        }
        static T? Meta<T>(JsonObject? m, string key) where T : struct =>
            m?[key] is JsonValue v && v.TryGetValue<T>(out var x) ? x : null;
        return new EvalRecord
        {
            Id = item.Id, Question = item.Question, Gold = item.Gold, Prediction = final, Reasoning = reasoning,
            Extracted = r.Extracted, Normalized = r.Normalized, Correct = r.Correct, Reason = r.Reason,
            Subject = item.Subject, Level = item.Level, FinishReason = reply.FinishReason,
            Attempts = Meta<int>(reply.Meta, "attempts"), LatencySeconds = Meta<double>(reply.Meta, "latency_s"),
            PromptTokens = Meta<int>(reply.Meta, "prompt_tokens"), CompletionTokens = Meta<int>(reply.Meta, "completion_tokens"),
        };
    }

    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, RunJson.Line)!.AsObject();

    /// <summary>A predictions line as a record, or null when it is not one (no string id, no boolean correct).</summary>
    public static EvalRecord? TryFrom(JsonObject line)
    {
        try { return line.Deserialize<EvalRecord>(RunJson.Line); }
        catch (JsonException) { return null; }
    }
}
