using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.Tokenization;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;

namespace Compact.Eval;

/// <summary>A model behind an OpenAI-compatible server (vLLM, SGLang, Ollama, llama.cpp, `compact serve`, a hosted
/// API), evaluated as <paramref name="Name"/>.</summary>
/// <param name="BaseUrl">The API's base URL, e.g. http://localhost:8000/v1.</param>
/// <param name="ServedModel">The "model" field of each request (vLLM: the served name, or a --lora-modules name).</param>
/// <param name="ApiKeyEnv">Environment variable holding the API key; null sends none.</param>
/// <param name="Concurrency">Requests in flight at once.</param>
/// <param name="TimeoutSeconds">Limit for one request; a request that runs over is retried.</param>
public sealed record EndpointSpec(string Name, string BaseUrl, string ServedModel, string? ApiKeyEnv = null, int Concurrency = 8,
    double TimeoutSeconds = 600)
{
    public RetryPolicy Retry { get; init; } = RetryPolicy.Default;
}

/// <summary>A question that got no reply after every retry (the server is down, overloaded or keeps failing). It is
/// not scored and not written as a prediction, so the next run asks it again.</summary>
public sealed class EndpointFailureException(string message, int attempts) : Exception(message)
{
    public int Attempts => attempts;
}

/// <summary>Answers through the OpenAI chat-completions protocol (the OpenAI .NET SDK's protocol method, so that
/// the body carries only the fields every compatible server reads). Each question is sent as the chat messages local
/// evaluation builds for a chat model (<see cref="EvalPrompts.Messages"/>: the instruction as system message, the
/// few-shot examples and the question as the user message), greedy (temperature 0), at most
/// <c>max_tokens</c> = --max-new-tokens. The server applies its own chat template.
/// Failures: 408/409/425/429/5xx, timeouts and unreadable bodies are retried with backoff (<see cref="RetryPolicy"/>)
/// and, when every retry fails, raise <see cref="EndpointFailureException"/> (the question stays unanswered); 401/403/404 stop
/// the run (a setup error); another 4xx (a prompt over the server's context, say) is the server declining that
/// question — a wrong answer with its reason — unless nothing has succeeded yet, when it is taken for a setup error
/// and stops the run. A refusal, a content filter or an empty reply is a wrong answer with its reason.</summary>
public sealed class EndpointAnswerer : IConcurrentAnswerer
{
    readonly EndpointSpec _spec;
    readonly int _maxTokens;
    readonly ChatClient _chat;
    readonly OpenAIClientOptions _options;
    readonly ApiKeyCredential _key;
    readonly Random _rng;
    int _successes;

    public EndpointAnswerer(EndpointSpec spec, int maxNewTokens, int seed = 0)
    {
        if (spec.Concurrency < 1) throw new CompactException($"--concurrency must be at least 1 (got {spec.Concurrency}).");
        if (!Uri.TryCreate(spec.BaseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new CompactException($"--endpoint {spec.Name}: '{spec.BaseUrl}' is not an http(s) URL; give the API's base URL, e.g. http://localhost:8000/v1.");
        string key = "none";
        if (spec.ApiKeyEnv is { } env)
            key = Environment.GetEnvironmentVariable(env) is { Length: > 0 } k ? k
                : throw new CompactException($"--api-key-env {env}: the environment variable is not set; export it, or leave --api-key-env out for a server without a key.");
        _spec = spec;
        _maxTokens = maxNewTokens;
        _key = new ApiKeyCredential(key);
        // The SDK's own retries are off: ours honour Retry-After as a floor and count the attempts per question.
        _options = new OpenAIClientOptions
        {
            Endpoint = uri, RetryPolicy = new ClientRetryPolicy(0), NetworkTimeout = TimeSpan.FromSeconds(spec.TimeoutSeconds),
        };
        _chat = new ChatClient(spec.ServedModel, _key, _options);
        _rng = new Random(seed);
    }

    public EndpointSpec Spec => _spec;
    public int Concurrency => _spec.Concurrency;

    string Where => $"endpoint {_spec.Name} ({_spec.BaseUrl}, model {_spec.ServedModel})";

    /// <summary>Asks the server's model list (GET /models), so that a wrong URL or key is one clear error before any
    /// question is sent. The list is not binding (Ollama answers "llama3.1" though it lists "llama3.1:latest"); it goes
    /// into the message should the server answer 404 for the model.</summary>
    public async Task CheckAsync(CancellationToken ct = default)
    {
        var models = new OpenAIModelClient(_key, _options);
        string body;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(Math.Min(30, _spec.TimeoutSeconds)));
            body = (await models.GetModelsAsync(new RequestOptions { CancellationToken = timeout.Token })).GetRawResponse().Content.ToString();
        }
        catch (ClientResultException e) when (e.Status == 0)
        {
            throw new CompactException($"{Where}: no answer from the server ({e.InnerException?.Message ?? e.Message}); start it, or fix the URL.");
        }
        catch (ClientResultException e) when (e.Status is 401 or 403)
        {
            throw new CompactException($"{Where}: HTTP {e.Status}, the server refuses the key; pass the right one with --api-key-env VAR.");
        }
        catch (ClientResultException) { return; }                                     // no model list here: not checked
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new CompactException($"{Where}: the server did not answer GET /models within 30 s; check that it is up and the URL is right.");
        }
        catch (HttpRequestException e) { throw new CompactException($"{Where}: cannot reach the server ({e.Message}); start it, or fix the URL."); }
        List<string>? ids = null;
        try { ids = (JsonNode.Parse(body)?["data"] as JsonArray)?.Select(m => m?["id"]?.GetValue<string>()).OfType<string>().ToList(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { }
        _listed = ids;
    }

    List<string>? _listed;

    /// <summary>The messages sent for <paramref name="q"/>: what a local chat-template model is given.</summary>
    public static JsonArray Messages(EvalQuestion q)
    {
        var (system, user) = EvalPrompts.Messages(ChatStyle.ChatMl, q);
        var messages = new JsonArray();
        if (system is not null) messages.Add(new JsonObject { ["role"] = "system", ["content"] = system });
        messages.Add(new JsonObject { ["role"] = "user", ["content"] = user });
        return messages;
    }

    public async Task<Reply> AnswerOneAsync(EvalQuestion question, CancellationToken ct)
    {
        var body = new JsonObject
        {
            ["model"] = _spec.ServedModel, ["messages"] = Messages(question), ["max_tokens"] = _maxTokens, ["temperature"] = 0,
        }.ToJsonString();
        var sw = Stopwatch.StartNew();
        string lastError = "";
        int attempt = 0;
        for (; ; attempt++)
        {
            int status;
            TimeSpan? retryAfter = null;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(_spec.TimeoutSeconds));
                var result = await _chat.CompleteChatAsync(BinaryContent.Create(BinaryData.FromString(body)), new RequestOptions { CancellationToken = timeout.Token });
                var reply = Parse(result.GetRawResponse().Content.ToString(), attempt + 1, sw.Elapsed);
                Interlocked.Increment(ref _successes);
                return reply;
            }
            catch (ClientResultException e)
            {
                status = e.Status;
                var raw = e.GetRawResponse();
                if (raw is not null && raw.Headers.TryGetValue("Retry-After", out var ra)) retryAfter = RetryPolicy.ParseRetryAfter(ra, DateTimeOffset.UtcNow);
                var message = ErrorMessage(raw?.Content?.ToString()) ?? e.Message;
                lastError = status == 0 ? $"no response ({e.InnerException?.Message ?? e.Message})" : $"HTTP {status}: {message}";
                if (status == 404 && _listed is { Count: > 0 } listed && !listed.Contains(_spec.ServedModel))
                    throw new CompactException($"{Where}: {lastError.TrimEnd('.')}; the server lists {string.Join(", ", listed.Select(i => $"\"{i}\""))}: "
                        + "pick one with --served-model (or NAME=URL#MODEL).");
                if (RetryPolicy.Fatal(status))
                    throw new CompactException($"{Where}: {lastError.TrimEnd('.')}; check the URL (it usually ends in /v1), --served-model and --api-key-env.");
                if (!RetryPolicy.Retryable(status))
                {
                    if (Volatile.Read(ref _successes) == 0)
                        throw new CompactException($"{Where}: the server rejects the first requests ({lastError.TrimEnd('.')}); fix what it names (e.g. --max-new-tokens over its limit) and run again.");
                    return new Reply("", Refusal: $"the server rejected the request ({lastError})", Meta: Meta(attempt + 1, sw.Elapsed));
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                status = 0;
                lastError = $"no reply within {_spec.TimeoutSeconds:0.#} s";
            }
            catch (Exception e) when (e is HttpRequestException or FormatException or JsonException or InvalidOperationException)
            {
                status = e is HttpRequestException ? 0 : 502;
                lastError = e is HttpRequestException ? $"no response ({e.Message})" : $"unreadable reply ({e.Message})";
            }
            if (attempt >= _spec.Retry.MaxRetries) break;
            double u;
            lock (_rng) u = _rng.NextDouble();                                      // Random is not thread-safe
            await Task.Delay(_spec.Retry.Delay(attempt, retryAfter, u), ct);
        }
        throw new EndpointFailureException($"{lastError} (after {attempt + 1} attempts)", attempt + 1);
    }

    /// <summary>Reads choices[0]: content, reasoning (vLLM/DeepSeek <c>reasoning_content</c>, or <c>reasoning</c>),
    /// refusal, finish_reason, and the token counts.</summary>
    static Reply Parse(string json, int attempts, TimeSpan elapsed)
    {
        var root = JsonNode.Parse(json) ?? throw new FormatException("the body is empty");
        var choice = (root["choices"] as JsonArray)?.FirstOrDefault() ?? throw new FormatException("the reply has no choices");
        var message = choice["message"] as JsonObject ?? throw new FormatException("choices[0] has no message");
        string? Str(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        var content = message["content"] switch
        {
            JsonArray parts => string.Concat(parts.Select(p => Str(p?["text"]))),
            var n => Str(n) ?? "",
        };
        var reasoning = Str(message["reasoning_content"]) ?? Str(message["reasoning"]);
        var finish = Str(choice["finish_reason"]);
        var refusal = Str(message["refusal"]) is { Length: > 0 } r ? $"refused: {r}"
            : finish == "content_filter" ? "refused: the server's content filter stopped the reply" : null;
        var meta = Meta(attempts, elapsed);
        if (root["usage"] is JsonObject usage)
        {
            if (usage["prompt_tokens"] is JsonValue p && p.TryGetValue<int>(out var pt)) meta["prompt_tokens"] = pt;
            if (usage["completion_tokens"] is JsonValue c && c.TryGetValue<int>(out var ctoks)) meta["completion_tokens"] = ctoks;
        }
        return new Reply(content, string.IsNullOrEmpty(reasoning) ? null : reasoning, finish, refusal, meta);
    }

    static JsonObject Meta(int attempts, TimeSpan elapsed) => new() { ["attempts"] = attempts, ["latency_s"] = Math.Round(elapsed.TotalSeconds, 3) };

    /// <summary>error.message of an OpenAI-style error body, else its first line (at most 300 characters).</summary>
    static string? ErrorMessage(string? body)
    {
        if (string.IsNullOrWhiteSpace(body)) return null;
        try
        {
            if (JsonNode.Parse(body) is JsonObject o && (o["error"]?["message"] ?? o["message"] ?? o["detail"]) is JsonValue v && v.TryGetValue<string>(out var m))
                return m;
        }
        catch (JsonException) { }
        var line = body.Split('\n')[0].Trim();
        return line.Length > 300 ? line[..300] : line;
    }

    public IReadOnlyList<string> Answer(IReadOnlyList<EvalQuestion> batch, CancellationToken ct = default) =>
        Task.WhenAll(batch.Select(q => AnswerOneAsync(q, ct))).GetAwaiter().GetResult().Select(r => r.Text).ToList();

    public void Dispose() { }
}
