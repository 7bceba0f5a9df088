using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Compact.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Compact.Tests.Serving;

/// <summary>A teacher that answers from a script (question text → reply), served by Compact's own server.</summary>
public sealed class ScriptedBackend(string id, Func<string, string> reply, TimeSpan? delay = null) : ICompletionBackend
{
    public string ModelId => id;
    public int ContextLength => 100_000;
    int _calls;
    public int Calls => Volatile.Read(ref _calls);
    public int CountPromptTokens(CompletionRequest request) => 0;

    public CompletionResult Complete(CompletionRequest r, Action<string>? onDelta, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        if (delay is { } d) Task.Delay(d, ct).Wait(ct);
        var user = r.Messages?.Last(m => m.Role == "user").Content ?? r.Prompt ?? "";
        var text = reply(user);
        foreach (var w in text.Split(' ')) onDelta?.Invoke(w == text.Split(' ')[0] ? w : " " + w);
        return new CompletionResult(text, "stop", user.Length, text.Length);
    }
}

/// <summary>A misbehaving teacher at the HTTP level: per request, a script decides to fail with a status (and
/// Retry-After), stall, return garbage, or answer. Counts requests and successful answers per question.</summary>
public sealed class FaultyTeacher : IAsyncDisposable
{
    public enum Act { Answer, Fail500, Throttle429, Stall, Garbage, NotJson }
    readonly WebApplication _app;
    public ConcurrentDictionary<string, int> Requests { get; } = new();
    public ConcurrentDictionary<string, int> Answered { get; } = new();
    public Uri BaseUrl { get; private set; } = null!;

    public FaultyTeacher(Func<string, int, Act> script, Func<string, string> reply, TimeSpan? stall = null)
    {
        var b = WebApplication.CreateSlimBuilder();
        b.Logging.ClearProviders();
        b.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = b.Build();
        _app.MapPost("/v1/chat/completions", async (HttpContext ctx) =>
        {
            var body = (await JsonNode.ParseAsync(ctx.Request.Body))!;
            var user = body["messages"]!.AsArray().Last()!["content"]!.GetValue<string>();
            int n = Requests.AddOrUpdate(user, 1, (_, v) => v + 1);
            switch (script(user, n))
            {
                case Act.Fail500: ctx.Response.StatusCode = 500; await ctx.Response.WriteAsync("{\"error\":{\"message\":\"boom\"}}"); return;
                case Act.Throttle429: ctx.Response.StatusCode = 429; ctx.Response.Headers.RetryAfter = "0.05"; await ctx.Response.WriteAsync("{\"error\":{\"message\":\"slow down\"}}"); return;
                case Act.Stall: await Task.Delay(stall ?? TimeSpan.FromSeconds(30), ctx.RequestAborted); return;
                case Act.NotJson: await ctx.Response.WriteAsync("<html>oops</html>"); return;
            }
            var text = script(user, n) == Act.Garbage ? "I like turtles. The answer is: 123456789." : reply(user);
            Answered.AddOrUpdate(user, 1, (_, v) => v + 1);
            await ctx.Response.WriteAsJsonAsync(new JsonObject
            {
                ["id"] = "x", ["object"] = "chat.completion", ["model"] = "faulty",
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text }, ["finish_reason"] = "stop" }),
                ["usage"] = new JsonObject { ["prompt_tokens"] = 5, ["completion_tokens"] = 7, ["total_tokens"] = 12 },
            });
        });
    }

    public async Task<FaultyTeacher> StartAsync()
    {
        await _app.StartAsync();
        BaseUrl = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/v1");
        return this;
    }

    public async ValueTask DisposeAsync() { await _app.StopAsync(); await _app.DisposeAsync(); }
}
