using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Compact.Util;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Compact.Serving;

public sealed record ServerOptions
{
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests).</summary>
    public int Port { get; init; } = 8000;
    /// <summary>When set, requests need `Authorization: Bearer KEY`.</summary>
    public string? ApiKey { get; init; }
    /// <summary>Requests waiting for the model beyond the one running; more get 503.</summary>
    public int MaxQueue { get; init; } = 16;
    /// <summary>Largest max_tokens a request may ask for.</summary>
    public int MaxTokensLimit { get; init; } = 2048;
    /// <summary>Largest n (choices per request).</summary>
    public int MaxChoices { get; init; } = 8;
    public long MaxBodyBytes { get; init; } = 1 << 20;
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Where server-side failures are reported (one line each); null: standard error.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>A request the server refuses, with the HTTP status and the OpenAI error fields.</summary>
public sealed class RequestErrorException(int status, string message, string? param = null, string? code = null, string type = "invalid_request_error") : Exception(message)
{
    public int Status => status;
    public string? Param => param;
    public string? Code => code;
    public string Type => type;
}

/// <summary>A parsed request: one CompletionRequest per choice (prompts × n, seeds filled in), and how to answer.</summary>
public sealed record ParsedRequest(IReadOnlyList<CompletionRequest> Choices, int N, bool Stream, bool IncludeUsage, bool Logprobs);

/// <summary>An OpenAI-compatible HTTP server (ASP.NET Core minimal API): /v1/chat/completions (streaming or not),
/// /v1/completions, /v1/models[/{id}], /health. One worker runs the backend one request at a time — the prompt-length
/// check included, so the backend is never called from request threads; a bounded queue in front of it answers 503
/// when full, so load cannot exhaust memory. Requests are validated with 400s that say what is wrong, including the
/// fields this server cannot honour (tools, response_format, images); errors are OpenAI-shaped JSON everywhere.</summary>
public sealed class OpenAiServer : IAsyncDisposable
{
    /// <summary>One item on a job's stream: a text piece of choice Index, or (Final set) that choice's end.</summary>
    sealed record Piece(int Index, CompletionDelta? Delta, CompletionResult? Final);

    sealed record Job(ParsedRequest Request, Channel<Piece>? Pieces, TaskCompletionSource Admitted,
        TaskCompletionSource<IReadOnlyList<CompletionResult>> Done, CancellationToken Ct);

    /// <summary>Identifies this build and backend in system_fingerprint.</summary>
    public string Fingerprint { get; }

    readonly WebApplication _app;
    readonly Channel<Job> _queue;
    readonly ICompletionBackend _backend;
    readonly ServerOptions _o;
    readonly CancellationTokenSource _stop = new();
    readonly Action<string> _log;
    Task? _worker;
    int _pending;

    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");
    public ICompletionBackend Backend => _backend;

    public OpenAiServer(ICompletionBackend backend, ServerOptions o)
    {
        _backend = backend; _o = o;
        _log = o.Log ?? (line => Console.Error.WriteLine(line));
        Fingerprint = "fp_compact_" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(
            $"{typeof(OpenAiServer).Assembly.GetName().Version}|{backend.ModelId}")))[..10].ToLowerInvariant();
        _queue = Channel.CreateBounded<Job>(new BoundedChannelOptions(Math.Max(1, o.MaxQueue)) { FullMode = BoundedChannelFullMode.Wait });
        if (!IPAddress.TryParse(o.Host == "localhost" ? "127.0.0.1" : o.Host, out var ip))
            throw new CompactException($"--host {o.Host} is not an IP address; use 127.0.0.1 (default), 0.0.0.0 or another address of this machine.");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = o.MaxBodyBytes;
            k.Listen(ip, o.Port);
        });
        _app = builder.Build();
        // 404 and 405 from routing get an OpenAI-shaped body too.
        _app.UseStatusCodePages(ctx => ctx.HttpContext.Response.StatusCode switch
        {
            404 => Error(ctx.HttpContext, 404, $"no route {ctx.HttpContext.Request.Method} {ctx.HttpContext.Request.Path}; this server has /v1/chat/completions, /v1/completions, /v1/models and /health", code: "not_found"),
            405 => Error(ctx.HttpContext, 405, $"{ctx.HttpContext.Request.Method} is not allowed on {ctx.HttpContext.Request.Path}", code: "method_not_allowed"),
            _ => Task.CompletedTask,
        });
        _app.Use(async (ctx, next) =>
        {
            if (o.ApiKey is not null && ctx.Request.Path != "/health"
                && ctx.Request.Headers.Authorization.ToString() != $"Bearer {o.ApiKey}")
            {
                await Error(ctx, 401, "missing or wrong API key: send `Authorization: Bearer <key>`", "authentication_error", code: "invalid_api_key");
                return;
            }
            await next();
        });
        _app.MapGet("/health", ctx => Json(ctx, 200, new JsonObject { ["status"] = "ok", ["model"] = backend.ModelId, ["queued"] = Volatile.Read(ref _pending) }));
        _app.MapGet("/v1/models", ctx => Json(ctx, 200, new JsonObject { ["object"] = "list", ["data"] = new JsonArray(ModelObject()) }));
        _app.MapGet("/v1/models/{**id}", (HttpContext ctx, string id) => id == backend.ModelId
            ? Json(ctx, 200, ModelObject())
            : Error(ctx, 404, $"model \"{id}\" is not served here; this server serves \"{backend.ModelId}\"", param: "model", code: "model_not_found"));
        _app.MapPost("/v1/chat/completions", ctx => Handle(ctx, chat: true));
        _app.MapPost("/v1/completions", ctx => Handle(ctx, chat: false));
    }

    JsonObject ModelObject() => new()
    {
        ["id"] = _backend.ModelId, ["object"] = "model", ["created"] = 0, ["owned_by"] = "compact", ["max_model_len"] = _backend.ContextLength,
    };

    public async Task StartAsync()
    {
        _worker = Task.Factory.StartNew(Work, _stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        await _app.StartAsync();
        var addr = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(addr.Replace("[::]", "127.0.0.1").Replace("0.0.0.0", "127.0.0.1") + "/");
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => Microsoft.Extensions.Hosting.HostingAbstractionsHostExtensions.WaitForShutdownAsync(_app, ct);

    /// <summary>The worker: one dedicated thread makes every backend call, waiting for jobs synchronously. Awaiting
    /// them moved each job to whichever pool thread was free, and libgomp (libtorch's OpenMP) gives every thread that
    /// starts parallel work a team of its own; with more team threads than cores its idle workers sleep at once, so
    /// every parallel region pays a wake-up (measured in training: 0.58 s a step instead of 0.21 s; endpoint-throughput
    /// showed no change at its model's size).</summary>
    void Work()
    {
        while (Next(out var job))
        {
            Interlocked.Decrement(ref _pending);
            if (job.Ct.IsCancellationRequested) { job.Admitted.TrySetCanceled(); job.Done.TrySetCanceled(); job.Pieces?.Writer.TryComplete(); continue; }
            try
            {
                // The context check runs here, on the worker, like every other backend call.
                foreach (var r in job.Request.Choices)
                {
                    int promptTokens = _backend.CountPromptTokens(r);
                    if (promptTokens + r.MaxTokens > _backend.ContextLength)
                        throw new RequestErrorException(400, $"the prompt ({promptTokens} tokens) plus max_tokens ({r.MaxTokens}) exceeds the context length {_backend.ContextLength}",
                            "max_tokens", "context_length_exceeded");
                }
                job.Admitted.TrySetResult();
                var results = new List<CompletionResult>();
                for (int i = 0; i < job.Request.Choices.Count; i++)
                {
                    int index = i;
                    var r = job.Request.Choices[i];
                    CompletionResult res;
                    if (job.Pieces is null) res = _backend.Complete(r, null, job.Ct);
                    else if (r.TopLogprobs is not null) res = _backend.CompleteStreaming(r, d => job.Pieces.Writer.TryWrite(new Piece(index, d, null)), job.Ct);
                    else res = _backend.Complete(r, d => job.Pieces.Writer.TryWrite(new Piece(index, new CompletionDelta(d), null)), job.Ct);
                    job.Pieces?.Writer.TryWrite(new Piece(index, null, res));
                    results.Add(res);
                }
                job.Done.TrySetResult(results);
            }
            catch (OperationCanceledException) { job.Admitted.TrySetCanceled(); job.Done.TrySetCanceled(); }
            catch (Exception e) { job.Admitted.TrySetException(e); job.Done.TrySetException(e); }
            finally { job.Pieces?.Writer.TryComplete(); }
        }
    }

    /// <summary>The next job, waited for on this thread; false once the queue is completed (stopping throws).</summary>
    bool Next([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Job? job)
    {
        while (!_queue.Reader.TryRead(out job))
            if (!_queue.Reader.WaitToReadAsync(_stop.Token).AsTask().GetAwaiter().GetResult()) return false;
        return true;
    }

    static JsonObject ErrorBody(string message, string type, string? param, string? code) =>
        new() { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code } };

    /// <summary>Responses are UTF-8 JSON written as text ("café", not "\u00E9").</summary>
    static Task Json(HttpContext ctx, int status, JsonNode body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        return ctx.Response.WriteAsync(body.ToJsonString(Jsonl.Options), Encoding.UTF8);
    }

    static Task Error(HttpContext ctx, int status, string message, string type = "invalid_request_error", string? param = null, string? code = null) =>
        Json(ctx, status, ErrorBody(message, type, param, code));

    static readonly string[] Unsupported = ["tools", "functions", "tool_choice", "response_format", "logit_bias", "audio", "modalities", "prediction", "web_search_options"];

    /// <summary>Parses and validates a request body. Throws RequestErrorException (400) naming the field and what is wrong.</summary>
    public ParsedRequest Parse(JsonNode? body, bool chat)
    {
        static RequestErrorException Bad(string message, string? param) => new(400, message, param);
        if (body is not JsonObject o) throw Bad("the body must be a JSON object", null);
        static bool TryNum(JsonNode? n, out double v) { v = 0; return n is JsonValue jv && jv.GetValueKind() == JsonValueKind.Number && jv.TryGetValue(out v); }
        static string Text(JsonNode? n, string where, string param)
        {
            if (n is not JsonValue v || v.GetValueKind() != JsonValueKind.String) throw Bad($"{where} must be a string", param);
            string s;
            // System.Text.Json refuses to unescape a lone surrogate ("\ud800"); a surrogate that got through is refused below.
            try { s = v.GetValue<string>(); }
            catch (InvalidOperationException) { throw Bad($"{where} holds a lone UTF-16 surrogate (an unpaired \\uD800–\\uDFFF escape); send valid Unicode text", param); }
            // A lone surrogate (from "\ud800" in the JSON) is not text: refuse it rather than encode garbage.
            for (int i = 0; i < s.Length; i++)
                if (char.IsSurrogate(s[i]) && !(char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[++i])))
                    throw Bad($"{where} holds a lone UTF-16 surrogate (an unpaired \\uD800–\\uDFFF escape); send valid Unicode text", param);
            return s;
        }
        // Empty values and the settings that mean plain text (tool_choice "none"/"auto" without tools, response_format
        // {"type": "text"}) are what this server does anyway; anything else would be silently ignored, so it is refused.
        foreach (var f in Unsupported)
            if (o[f] is { } v && v is not (JsonArray { Count: 0 } or JsonObject { Count: 0 })
                && !(f == "tool_choice" && v is JsonValue tc && tc.TryGetValue<string>(out var tcs) && tcs is "none" or "auto")
                && !(f == "response_format" && v["type"] is JsonValue rt && rt.TryGetValue<string>(out var rts) && rts == "text"))
                throw Bad($"\"{f}\" is not supported by this server (it serves plain text completions); remove it", f);
        List<ChatMessage>? messages = null;
        List<string>? prompts = null;
        bool continueFinal = false;
        if (chat)
        {
            if (o["messages"] is not JsonArray arr || arr.Count == 0) throw Bad("\"messages\" must be a non-empty list", "messages");
            messages = new();
            for (int i = 0; i < arr.Count; i++)
            {
                if (arr[i] is not JsonObject m || m["role"] is not JsonValue rv || !rv.TryGetValue<string>(out var role))
                    throw Bad($"messages[{i}] needs a \"role\" string", "messages");
                if (role == "developer") role = "system";                     // OpenAI's newer name for the system role
                if (role is not ("system" or "user" or "assistant"))
                    throw Bad($"messages[{i}].role must be system, developer, user or assistant (got \"{role}\"; tool messages are not supported)", "messages");
                if (m["tool_calls"] is JsonArray { Count: > 0 }) throw Bad($"messages[{i}] has tool_calls; tools are not supported by this server", "messages");
                string content;
                switch (m["content"])
                {
                    case null when role == "assistant": content = ""; break;
                    case JsonValue: content = Text(m["content"], $"messages[{i}].content", "messages"); break;
                    case JsonArray parts:
                        var sb = new StringBuilder();
                        for (int k = 0; k < parts.Count; k++)
                        {
                            var type = parts[k]?["type"] is JsonValue tv && tv.TryGetValue<string>(out var ts) ? ts : null;
                            if (type != "text")
                                throw Bad($"messages[{i}].content[{k}] is a \"{type ?? "?"}\" part; this server reads only text parts ({{\"type\": \"text\", \"text\": \"...\"}})", "messages");
                            sb.Append(Text(parts[k]!["text"], $"messages[{i}].content[{k}].text", "messages"));
                        }
                        content = sb.ToString();
                        break;
                    default: throw Bad($"messages[{i}].content must be a string or a list of text parts", "messages");
                }
                messages.Add(new ChatMessage(role, content));
            }
            continueFinal = messages[^1].Role == "assistant";
            if (continueFinal && messages.Count == 1) throw Bad("a conversation cannot be only an assistant message; add the user turn before it", "messages");
        }
        else
        {
            prompts = o["prompt"] switch
            {
                JsonValue => [Text(o["prompt"], "\"prompt\"", "prompt")],
                JsonArray { Count: > 0 } a when a.All(x => x is JsonValue xv && xv.GetValueKind() == JsonValueKind.String) =>
                    a.Select((x, i) => Text(x, $"prompt[{i}]", "prompt")).ToList(),
                JsonArray { Count: > 0 } => throw Bad("\"prompt\" must be a string or a list of strings (token-id prompts are not supported)", "prompt"),
                _ => throw Bad("\"prompt\" must be a string or a non-empty list of strings", "prompt"),
            };
        }
        if (o["model"] is JsonValue mv && mv.TryGetValue<string>(out var model) && model != _backend.ModelId && model.Length > 0)
            throw new RequestErrorException(404, $"model \"{model}\" is not served here; this server serves \"{_backend.ModelId}\"", "model", "model_not_found");
        int maxTokens = 256;
        var mt = o["max_completion_tokens"] ?? o["max_tokens"];
        if (mt is not null)
        {
            if (!TryNum(mt, out var d) || d < 1 || d != Math.Floor(d)) throw Bad("max_tokens must be a positive integer", "max_tokens");
            if (d > _o.MaxTokensLimit) throw Bad($"max_tokens {d} is over this server's limit of {_o.MaxTokensLimit}", "max_tokens");
            maxTokens = (int)d;
        }
        double temperature = 1.0, topP = 1.0;
        if (o["temperature"] is { } tn && (!TryNum(tn, out temperature) || temperature < 0 || temperature > 2))
            throw Bad("temperature must be a number in [0, 2]", "temperature");
        if (o["top_p"] is { } pn && (!TryNum(pn, out topP) || topP <= 0 || topP > 1))
            throw Bad("top_p must be a number in (0, 1]", "top_p");
        int n = 1;
        if (o["n"] is { } nn)
        {
            if (!TryNum(nn, out var nd) || nd < 1 || nd != Math.Floor(nd)) throw Bad("n must be a positive integer", "n");
            if (nd > _o.MaxChoices) throw Bad($"n {nd} is over this server's limit of {_o.MaxChoices}", "n");
            n = (int)nd;
        }
        var stop = o["stop"] switch
        {
            null => new List<string>(),
            JsonValue v when v.TryGetValue<string>(out var s) => [s],
            JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue<string>(out _)) && a.Count <= 4 => a.Select(x => x!.GetValue<string>()).ToList(),
            _ => throw Bad("stop must be a string or a list of up to 4 strings", "stop"),
        };
        long? seed = null;
        if (o["seed"] is { } sn)
        {
            if (sn is not JsonValue sv || !sv.TryGetValue<long>(out var sd)) throw Bad("seed must be an integer", "seed");
            seed = sd;
        }
        bool Bool(string f) => o[f] switch
        {
            null => false,
            JsonValue v when v.TryGetValue<bool>(out var b) => b,
            _ => throw Bad($"{f} must be true or false", f),
        };
        bool stream = Bool("stream");
        bool includeUsage = stream && o["stream_options"]?["include_usage"] is JsonValue iu && iu.TryGetValue<bool>(out var iub) && iub;
        // Log-probabilities: chat has logprobs (bool) + top_logprobs (0–20); completions has logprobs (an int 0–5).
        int? topLogprobs = null;
        if (chat)
        {
            if (Bool("logprobs"))
            {
                topLogprobs = 0;
                if (o["top_logprobs"] is { } tl)
                {
                    if (!TryNum(tl, out var k) || k < 0 || k > 20 || k != Math.Floor(k)) throw Bad("top_logprobs must be an integer in [0, 20]", "top_logprobs");
                    topLogprobs = (int)k;
                }
            }
            else if (o["top_logprobs"] is { } tl && tl.GetValueKind() != JsonValueKind.Null)
                throw Bad("top_logprobs needs \"logprobs\": true", "top_logprobs");
        }
        else if (o["logprobs"] is { } lp && lp.GetValueKind() != JsonValueKind.Null)
        {
            if (!TryNum(lp, out var k) || k < 0 || k > 5 || k != Math.Floor(k)) throw Bad("logprobs must be an integer in [0, 5] for /v1/completions", "logprobs");
            topLogprobs = (int)k;
        }
        if (topLogprobs is not null && !_backend.SupportsLogprobs) throw Bad($"model \"{_backend.ModelId}\" does not give log-probabilities", "logprobs");
        // No seed: a fresh random one per request, so unseeded sampling differs from call to call; choice j uses seed + j.
        long baseSeed = seed ?? Random.Shared.NextInt64(0, 1L << 53);
        var choices = new List<CompletionRequest>();
        var promptList = chat ? [null!] : prompts!;
        for (int p = 0; p < promptList.Count; p++)
            for (int j = 0; j < n; j++)
                choices.Add(new CompletionRequest
                {
                    Messages = messages, Prompt = chat ? null : promptList[p], MaxTokens = maxTokens, Temperature = temperature, TopP = topP, Stop = stop,
                    Seed = baseSeed + p * n + j, ContinueFinal = continueFinal, TopLogprobs = topLogprobs,
                });
        return new ParsedRequest(choices, n, stream, includeUsage, topLogprobs is not null);
    }

    /// <summary>Reads the body as strict UTF-8 JSON: bad bytes and duplicate keys are a 400, not a 500.</summary>
    static async Task<JsonNode?> ReadBody(HttpContext ctx)
    {
        using var ms = new MemoryStream();
        await ctx.Request.Body.CopyToAsync(ms, ctx.RequestAborted);
        var bytes = ms.ToArray();
        try { _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes); }
        catch (DecoderFallbackException e) { throw new RequestErrorException(400, $"the body is not valid UTF-8 (bad byte at offset {e.Index}); send JSON encoded as UTF-8"); }
        try { return JsonNode.Parse(bytes, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw new RequestErrorException(400, $"the body is not valid JSON ({e.Message.Split(". ")[0].TrimEnd('.')})"); }
        catch (ArgumentException e) { throw new RequestErrorException(400, $"the body is not valid JSON ({e.Message.Split(". ")[0].TrimEnd('.')})"); }
    }

    static JsonObject? ChatLogprobs(IReadOnlyList<TokenLogprob>? lps) => lps is null ? null : new JsonObject
    {
        ["content"] = new JsonArray(lps.Select(t => (JsonNode)new JsonObject
        {
            ["token"] = t.Token, ["logprob"] = t.Logprob, ["bytes"] = ByteArray(t.Bytes),
            ["top_logprobs"] = new JsonArray(t.Top.Select(a => (JsonNode)new JsonObject { ["token"] = a.Token, ["logprob"] = a.Logprob, ["bytes"] = ByteArray(a.Bytes) }).ToArray()),
        }).ToArray()),
        ["refusal"] = null,
    };

    /// <summary>The legacy completions shape: tokens, token_logprobs, top_logprobs (token → logprob maps), text_offset.</summary>
    static JsonObject? CompletionLogprobs(IReadOnlyList<TokenLogprob>? lps, int offset0)
    {
        if (lps is null) return null;
        var offsets = new JsonArray();
        int off = offset0;
        foreach (var t in lps) { offsets.Add(off); off += t.Token.Length; }
        return new JsonObject
        {
            ["tokens"] = new JsonArray(lps.Select(t => (JsonNode)t.Token).ToArray()),
            ["token_logprobs"] = new JsonArray(lps.Select(t => (JsonNode)t.Logprob).ToArray()),
            ["top_logprobs"] = new JsonArray(lps.Select(t =>
            {
                var m = new JsonObject();
                foreach (var a in t.Top) m[a.Token] = a.Logprob;             // same-text alternatives keep the likelier one (listed first)
                return (JsonNode)m;
            }).ToArray()),
            ["text_offset"] = offsets,
        };
    }

    static JsonArray ByteArray(byte[] b) => new(b.Select(x => (JsonNode)(int)x).ToArray());

    async Task Handle(HttpContext ctx, bool chat)
    {
        ParsedRequest req;
        try { req = Parse(await ReadBody(ctx), chat); }
        catch (RequestErrorException e) { await Error(ctx, e.Status, e.Message, e.Type, e.Param, e.Code); return; }
        catch (BadHttpRequestException e) when (e.StatusCode == 413) { await Error(ctx, 413, $"the body is over {_o.MaxBodyBytes} bytes", code: "request_too_large"); return; }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, _stop.Token);
        cts.CancelAfter(_o.RequestTimeout);
        var job = new Job(req, req.Stream ? Channel.CreateUnbounded<Piece>() : null, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously),
            new TaskCompletionSource<IReadOnlyList<CompletionResult>>(TaskCreationOptions.RunContinuationsAsynchronously), cts.Token);
        _ = job.Done.Task.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);     // observed here or below
        Interlocked.Increment(ref _pending);
        if (!_queue.Writer.TryWrite(job))
        {
            Interlocked.Decrement(ref _pending);
            ctx.Response.Headers.RetryAfter = "1";
            await Error(ctx, 503, $"the server is busy ({_o.MaxQueue} requests already waiting); retry later", "server_busy", code: "server_busy");
            return;
        }
        // Until the worker admits the request (prompt within the context), errors are ordinary JSON responses.
        try { await job.Admitted.Task.WaitAsync(cts.Token); }
        catch (RequestErrorException e) { await Error(ctx, e.Status, e.Message, e.Type, e.Param, e.Code); return; }
        catch (OperationCanceledException)
        {
            if (!ctx.RequestAborted.IsCancellationRequested) await Error(ctx, 504, "the request timed out in the server", "timeout", code: "timeout");
            return;
        }
        catch (Exception e)
        {
            _log($"serve: request failed before generation: {e.GetType().Name}: {e.Message}");
            await Error(ctx, 500, $"generation failed: {e.Message}", "server_error");
            return;
        }
        var id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N")[..24];
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        JsonObject Envelope(string obj) => new()
        {
            ["id"] = id, ["object"] = obj, ["created"] = created, ["model"] = _backend.ModelId, ["system_fingerprint"] = Fingerprint,
        };
        JsonObject Usage(IReadOnlyList<CompletionResult> rs)
        {
            // The prompt is counted once per distinct prompt (not once per choice), as OpenAI does.
            int pt = rs.Where((_, i) => i % req.N == 0).Sum(r => r.PromptTokens), ct = rs.Sum(r => r.CompletionTokens);
            return new JsonObject { ["prompt_tokens"] = pt, ["completion_tokens"] = ct, ["total_tokens"] = pt + ct };
        }
        if (req.Stream)
        {
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "text/event-stream; charset=utf-8";
            ctx.Response.Headers.CacheControl = "no-cache";
            async Task Send(JsonObject chunk)
            {
                await ctx.Response.WriteAsync("data: " + chunk.ToJsonString(Jsonl.Options) + "\n\n", Encoding.UTF8, cts.Token);
                await ctx.Response.Body.FlushAsync(cts.Token);
            }
            JsonObject Chunk(JsonObject choice)
            {
                var c = Envelope(chat ? "chat.completion.chunk" : "text_completion");
                c["choices"] = new JsonArray(choice);
                if (req.IncludeUsage) c["usage"] = null;
                return c;
            }
            var textSoFar = new int[req.Choices.Count];
            JsonObject ChoiceOf(int index, string text, IReadOnlyList<TokenLogprob>? lps, string? finish)
            {
                var lp = req.Logprobs ? lps ?? [] : null;
                var ch = chat
                    ? new JsonObject
                    {
                        ["index"] = index, ["delta"] = finish is null ? new JsonObject { ["content"] = text } : new JsonObject(),
                        ["logprobs"] = lp is null || finish is not null ? null : ChatLogprobs(lp), ["finish_reason"] = finish,
                    }
                    : new JsonObject
                    {
                        ["index"] = index, ["text"] = text,
                        ["logprobs"] = lp is null || finish is not null ? null : CompletionLogprobs(lp, textSoFar[index]), ["finish_reason"] = finish,
                    };
                textSoFar[index] += text.Length;
                return ch;
            }
            try
            {
                if (chat)
                    for (int i = 0; i < req.Choices.Count; i++)
                        await Send(Chunk(new JsonObject
                        {
                            ["index"] = i, ["delta"] = new JsonObject { ["role"] = "assistant", ["content"] = "", ["refusal"] = null }, ["logprobs"] = null, ["finish_reason"] = null,
                        }));
                await foreach (var piece in job.Pieces!.Reader.ReadAllAsync(cts.Token))
                    await Send(Chunk(piece.Final is { } f ? ChoiceOf(piece.Index, "", null, f.FinishReason) : ChoiceOf(piece.Index, piece.Delta!.Text, piece.Delta.Logprobs, null)));
                IReadOnlyList<CompletionResult> results;
                try { results = await job.Done.Task; }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The backend failed mid-stream: tell the client in an error event and end the stream cleanly.
                    _log($"serve: {id}: generation failed while streaming: {e.GetType().Name}: {e.Message}");
                    await Send(ErrorBody($"generation failed: {e.Message}", "server_error", null, null));
                    await ctx.Response.WriteAsync("data: [DONE]\n\n", cts.Token);
                    return;
                }
                if (req.IncludeUsage)
                {
                    var u = Envelope(chat ? "chat.completion.chunk" : "text_completion");
                    u["choices"] = new JsonArray();
                    u["usage"] = Usage(results);
                    await Send(u);
                }
                await ctx.Response.WriteAsync("data: [DONE]\n\n", cts.Token);
            }
            catch (OperationCanceledException) { /* client went away or timed out */ }
            return;
        }
        IReadOnlyList<CompletionResult> res;
        try { res = await job.Done.Task.WaitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            if (!ctx.RequestAborted.IsCancellationRequested) await Error(ctx, 504, "the request timed out in the server", "timeout", code: "timeout");
            return;
        }
        catch (Exception e)
        {
            _log($"serve: {id}: generation failed: {e.GetType().Name}: {e.Message}");
            await Error(ctx, 500, $"generation failed: {e.Message}", "server_error");
            return;
        }
        var body = Envelope(chat ? "chat.completion" : "text_completion");
        body["choices"] = new JsonArray(res.Select((r, i) => (JsonNode)(chat
            ? new JsonObject
            {
                ["index"] = i, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = r.Text, ["refusal"] = null },
                ["logprobs"] = req.Logprobs ? ChatLogprobs(r.Logprobs ?? []) : null, ["finish_reason"] = r.FinishReason,
            }
            : new JsonObject
            {
                ["index"] = i, ["text"] = r.Text, ["logprobs"] = req.Logprobs ? CompletionLogprobs(r.Logprobs ?? [], 0) : null, ["finish_reason"] = r.FinishReason,
            })).ToArray());
        body["usage"] = Usage(res);
        await Json(ctx, 200, body);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _queue.Writer.TryComplete();
        try { await _app.StopAsync(); } catch { /* already stopped */ }
        try { if (_worker is not null) await _worker; } catch (OperationCanceledException) { }
        await _app.DisposeAsync();
        _stop.Dispose();
    }
}
