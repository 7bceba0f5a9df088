using System.Text.Json.Nodes;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Eval;

namespace Compact.Tests.Eval;

/// <summary>A predictions line is written and read back by <see cref="EvalRecord"/>.</summary>
public class EvalRecordTests
{
    static readonly BenchItem Item = new("q7", "Tom has 3 apples and buys 4. How many?", "7", AnswerKind.Numeric, Subject: "add");

    [Fact]
    public void A_reply_becomes_a_line_with_the_verdict_and_the_servers_numbers_and_reads_back()
    {
        var reply = new Reply("<think>3 + 4 = 7</think>The answer is: 7", FinishReason: "stop",
            Meta: new JsonObject { ["attempts"] = 2, ["latency_s"] = 0.25, ["prompt_tokens"] = 30, ["completion_tokens"] = 12 });
        var line = EvalRecord.From(Item, reply).ToJson();
        // Field order and names of the file, spelled out; extracted/normalized are written even when null.
        Assert.Equal(["id", "question", "gold", "prediction", "reasoning", "extracted", "normalized", "correct", "reason", "subject",
            "finish_reason", "attempts", "latency_s", "prompt_tokens", "completion_tokens"], line.Select(kv => kv.Key));
        Assert.Equal("The answer is: 7", line["prediction"]!.GetValue<string>());
        Assert.Equal("3 + 4 = 7", line["reasoning"]!.GetValue<string>());
        Assert.True(line["correct"]!.GetValue<bool>());
        Assert.Equal(2, line["attempts"]!.GetValue<int>());
        var back = EvalRecord.TryFrom(JsonNode.Parse(line.ToJsonString())!.AsObject())!;
        Assert.Equal(("q7", "7", true, 0.25, 12), (back.Id, back.Gold, back.Correct, back.LatencySeconds!.Value, back.CompletionTokens!.Value));

        var empty = EvalRecord.From(Item, new Reply("")).ToJson();
        Assert.Null(empty["extracted"]);
        Assert.True(empty.ContainsKey("extracted"));
        Assert.Equal("empty reply", empty["reason"]!.GetValue<string>());
    }

    [Fact]
    public void A_line_without_a_string_id_or_a_boolean_verdict_is_not_a_record()
    {
        Assert.Null(EvalRecord.TryFrom(new JsonObject { ["id"] = "q1" }));
        Assert.Null(EvalRecord.TryFrom(new JsonObject { ["id"] = "q1", ["correct"] = "yes" }));
        Assert.Null(EvalRecord.TryFrom(new JsonObject { ["correct"] = true }));
        Assert.NotNull(EvalRecord.TryFrom(new JsonObject { ["id"] = "q1", ["correct"] = false, ["something_new"] = 1 }));
    }
}
