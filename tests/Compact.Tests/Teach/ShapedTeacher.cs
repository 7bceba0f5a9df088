using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Compact.Tests.Teach;

/// <summary>An OpenAI-shaped chat server on loopback whose replies are written out by hand in the shapes real servers use
/// (vLLM with and without a reasoning parser, DeepSeek, refusals, tool calls, streams, errors). The script sees the user
/// message, the attempt number for that message and the whole request body.</summary>
public sealed class ShapedTeacher : IAsyncDisposable
{
    public sealed record Reply(int Status, string Body, string? RetryAfter = null, string ContentType = "application/json");

    readonly WebApplication _app;
    public ConcurrentDictionary<string, int> Requests { get; } = new();
    /// <summary>Every request: (user message, attempt, body, time received).</summary>
    public ConcurrentQueue<(string User, int Attempt, JsonObject Body, DateTime At)> Log { get; } = new();
    public Uri BaseUrl { get; private set; } = null!;

    public ShapedTeacher(Func<string, int, JsonObject, Reply> script)
    {
        var b = WebApplication.CreateSlimBuilder();
        b.Logging.ClearProviders();
        b.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = b.Build();
        _app.MapPost("/v1/chat/completions", async (HttpContext ctx) =>
        {
            var body = (JsonObject)(await JsonNode.ParseAsync(ctx.Request.Body))!;
            var user = body["messages"]!.AsArray().Last()!["content"]!.GetValue<string>();
            int n = Requests.AddOrUpdate(user, 1, (_, v) => v + 1);
            Log.Enqueue((user, n, body, DateTime.UtcNow));
            var r = script(user, n, body);
            ctx.Response.StatusCode = r.Status;
            ctx.Response.ContentType = r.ContentType;
            if (r.RetryAfter is not null) ctx.Response.Headers.RetryAfter = r.RetryAfter;
            await ctx.Response.WriteAsync(r.Body);
        });
    }

    public async Task<ShapedTeacher> StartAsync()
    {
        await _app.StartAsync();
        BaseUrl = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/v1");
        return this;
    }

    public async ValueTask DisposeAsync() { await _app.StopAsync(); await _app.DisposeAsync(); }

    // ---- reply shapes, written as the servers document them

    /// <summary>A chat.completion whose choices[0].message is `message`.</summary>
    public static Reply Message(JsonObject message, string finish = "stop") => new(200, new JsonObject
    {
        ["id"] = "chatcmpl-1", ["object"] = "chat.completion", ["created"] = 1, ["model"] = "m",
        ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["logprobs"] = null, ["finish_reason"] = finish }),
        ["usage"] = new JsonObject { ["prompt_tokens"] = 11, ["completion_tokens"] = 13, ["total_tokens"] = 24 },
    }.ToJsonString());

    /// <summary>vLLM without a reasoning parser (and Ollama's raw output): the think block inside content.</summary>
    public static Reply InlineThink(string think, string answer) =>
        Message(new JsonObject { ["role"] = "assistant", ["content"] = $"<think>\n{think}\n</think>\n\n{answer}" });

    /// <summary>vLLM with --reasoning-parser (recent versions: "reasoning"; older and DeepSeek: "reasoning_content").</summary>
    public static Reply Reasoning(string field, string think, string answer) =>
        Message(new JsonObject { ["role"] = "assistant", [field] = think, ["content"] = answer });

    public static Reply Refusal(string why) =>
        Message(new JsonObject { ["role"] = "assistant", ["content"] = null, ["refusal"] = why });

    public static Reply ToolCall() => Message(new JsonObject
    {
        ["role"] = "assistant", ["content"] = null,
        ["tool_calls"] = new JsonArray(new JsonObject
        {
            ["id"] = "call_1", ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = "calculator", ["arguments"] = "{\"expr\":\"1+1\"}" },
        }),
    }, finish: "tool_calls");

    /// <summary>A server-sent event stream (DeepSeek / vLLM with stream: true): reasoning deltas, then content deltas, then usage.</summary>
    public static Reply Stream(string think, string answer)
    {
        var sb = new System.Text.StringBuilder();
        void Chunk(JsonObject delta, string? finish, JsonObject? usage = null) => sb.Append("data: ").Append(new JsonObject
        {
            ["id"] = "c", ["object"] = "chat.completion.chunk", ["created"] = 1, ["model"] = "m",
            ["choices"] = usage is null ? new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }) : new JsonArray(),
            ["usage"] = usage,
        }.ToJsonString()).Append("\n\n");
        Chunk(new JsonObject { ["role"] = "assistant", ["content"] = null, ["reasoning_content"] = "" }, null);
        foreach (var w in think.Split(' ')) Chunk(new JsonObject { ["reasoning_content"] = w + " ", ["content"] = null }, null);
        foreach (var w in answer.Split(' ')) Chunk(new JsonObject { ["content"] = w + " " }, null);
        Chunk(new JsonObject(), "stop");
        Chunk(new JsonObject(), null, new JsonObject { ["prompt_tokens"] = 11, ["completion_tokens"] = 21, ["total_tokens"] = 32 });
        sb.Append("data: [DONE]\n\n");
        return new Reply(200, sb.ToString(), ContentType: "text/event-stream");
    }

    public static Reply Error(int status, string message, string? retryAfter = null) =>
        new(status, new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = "server_error", ["code"] = null } }.ToJsonString(), retryAfter);
}
