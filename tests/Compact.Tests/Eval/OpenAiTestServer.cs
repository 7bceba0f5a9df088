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

namespace Compact.Tests.Eval;

/// <summary>What the test server does with one request.</summary>
public abstract record Act
{
    /// <summary>HTTP 200 with this content (and optional reasoning_content / refusal / finish_reason), after a delay.</summary>
    public sealed record Answer(string Content, string? Reasoning = null, string? Refusal = null, string Finish = "stop", TimeSpan Delay = default) : Act;
    /// <summary>An error status with an OpenAI-style body, and a Retry-After header when given.</summary>
    public sealed record Fail(int Status, string? RetryAfter = null) : Act;
    /// <summary>Never answers (until the client gives up or the server stops).</summary>
    public sealed record Stall : Act;
}

/// <summary>An OpenAI-shaped chat-completions server on loopback whose every reply comes from a script
/// (user message, attempt number for that message → <see cref="Act"/>): slow, failing, throttling, refusing,
/// reasoning. It records every request (time, user message, body), serves GET /v1/models with one model, and answers
/// 404 for any other model.</summary>
public sealed class OpenAiTestServer : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly CancellationTokenSource _stop = new();

    public ConcurrentDictionary<string, int> Attempts { get; } = new();
    public ConcurrentQueue<(DateTime At, string User, JsonObject Body)> Log { get; } = new();
    public Uri BaseUrl { get; private set; } = null!;
    int _inFlight, _maxInFlight;
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public OpenAiTestServer(Func<string, int, Act> script, string model = "m")
    {
        var b = WebApplication.CreateSlimBuilder();
        b.Logging.ClearProviders();
        b.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = b.Build();
        _app.MapGet("/v1/models", () => Results.Json(new { @object = "list", data = new[] { new { id = model, @object = "model" } } }));
        _app.MapPost("/v1/chat/completions", async (HttpContext ctx) =>
        {
            var body = (JsonObject)(await JsonNode.ParseAsync(ctx.Request.Body))!;
            if (body["model"]?.GetValue<string>() != model)
            {
                ctx.Response.StatusCode = 404;                                      // as vLLM answers an unknown model
                await ctx.Response.WriteAsync($"{{\"error\":{{\"message\":\"The model `{body["model"]}` does not exist.\"}}}}");
                return;
            }
            var user = body["messages"]!.AsArray().Last()!["content"]!.GetValue<string>();
            int n = Attempts.AddOrUpdate(user, 1, (_, v) => v + 1);
            Log.Enqueue((DateTime.UtcNow, user, body));
            int now = Interlocked.Increment(ref _inFlight);
            int seen;
            while ((seen = Volatile.Read(ref _maxInFlight)) < now && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen) { }
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, _stop.Token);
                switch (script(user, n))
                {
                    case Act.Fail f:
                        ctx.Response.StatusCode = f.Status;
                        if (f.RetryAfter is not null) ctx.Response.Headers.RetryAfter = f.RetryAfter;
                        await ctx.Response.WriteAsync($"{{\"error\":{{\"message\":\"scripted failure {f.Status}\"}}}}");
                        return;
                    case Act.Stall:
                        try { await Task.Delay(Timeout.Infinite, cts.Token); } catch (OperationCanceledException) { }
                        return;
                    case Act.Answer a:
                        if (a.Delay > TimeSpan.Zero) await Task.Delay(a.Delay, cts.Token);
                        var message = new JsonObject { ["role"] = "assistant", ["content"] = a.Content };
                        if (a.Reasoning is not null) message["reasoning_content"] = a.Reasoning;
                        if (a.Refusal is not null) message["refusal"] = a.Refusal;
                        await ctx.Response.WriteAsJsonAsync(new JsonObject
                        {
                            ["id"] = "x", ["object"] = "chat.completion", ["model"] = body["model"]?.GetValue<string>(),
                            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["finish_reason"] = a.Finish }),
                            ["usage"] = new JsonObject { ["prompt_tokens"] = 11, ["completion_tokens"] = 7, ["total_tokens"] = 18 },
                        });
                        return;
                }
            }
            finally { Interlocked.Decrement(ref _inFlight); }
        });
    }

    public async Task<OpenAiTestServer> StartAsync()
    {
        await _app.StartAsync();
        BaseUrl = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/v1");
        return this;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _stop.Dispose();
    }
}
