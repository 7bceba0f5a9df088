using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Distill;
using Compact.IO;
using Compact.Training;
using Compact.Util;
using OpenAI;
using OpenAI.Chat;

namespace Compact.Teach;

/// <summary>Retry timing: exponential backoff with jitter; the server's Retry-After is a floor, not the whole delay.</summary>
public sealed record Backoff(TimeSpan Base, TimeSpan Max)
{
    public static readonly Backoff Default = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));

    /// <summary>Delay before retry number `attempt` (0-based): max(Retry-After capped at Max, min(Max, Base·2^attempt))
    /// plus a uniform jitter in [0, Base), so clients told "Retry-After: 1" together do not all come back together.</summary>
    public TimeSpan Delay(int attempt, TimeSpan? retryAfter, Random rng)
    {
        double exp = Math.Min(Max.TotalSeconds, Base.TotalSeconds * Math.Pow(2, attempt));
        double floor = retryAfter is { } ra ? Math.Clamp(ra.TotalSeconds, 0, Max.TotalSeconds) : 0;
        return TimeSpan.FromSeconds(Math.Max(floor, exp) + rng.NextDouble() * Base.TotalSeconds);
    }

    /// <summary>Retry-After as seconds or an HTTP date (<see cref="Eval.RetryPolicy.ParseRetryAfter"/>; teach and eval read it alike).</summary>
    public static TimeSpan? ParseRetryAfter(string? value, DateTimeOffset now) => Eval.RetryPolicy.ParseRetryAfter(value, now);

    /// <summary>Status codes worth retrying (<see cref="Eval.RetryPolicy.Retryable"/>).</summary>
    public static bool Retryable(int status) => Eval.RetryPolicy.Retryable(status);
}

public sealed record TeachOptions
{
    /// <summary>The multi-teacher dataset (JSONL) to write.</summary>
    public required string Out { get; init; }
    /// <summary>Every response with its verdict (JSONL); default: Out + ".raw.jsonl".</summary>
    public string? Raw { get; init; }
    public Backoff Backoff { get; init; } = Backoff.Default;
    /// <summary>Ask again for items whose last verdict is "failed" (otherwise a rerun only asks for items never answered).</summary>
    public bool RetryFailed { get; init; }
    /// <summary>Retries allowed over the whole run, all teachers together (each request also has its teacher's max_retries).</summary>
    public int RetryBudget { get; init; } = 1000;
    /// <summary>Replace an existing dataset that the side file does not account for (otherwise refused).</summary>
    public bool Overwrite { get; init; }
}

/// <summary>How one (question, teacher, sample) ended.</summary>
public static class Verdicts
{
    public const string Correct = "correct", Wrong = "wrong", Refused = "refused", Truncated = "truncated", Failed = "failed";
    public static readonly string[] All = [Correct, Wrong, Refused, Truncated, Failed];

    /// <summary>The verdict of a side-file record (records written before verdicts existed have only status/correct).</summary>
    public static string Of(JsonObject r) => r["verdict"]?.GetValue<string>()
        ?? (r["status"]?.GetValue<string>() == "failed" ? Failed : r["correct"]?.GetValue<bool>() == true ? Correct : Wrong);
}

public sealed record TeacherStats(string Teacher, int Total, int Done, int Correct, int Wrong, int Refused, int Truncated, int Failed, long Tokens, double Seconds);

public sealed record TeachSummary(int Questions, int QuestionsWritten, int Requests, int Skipped, IReadOnlyList<TeacherStats> Teachers, string Dataset, string Raw,
    int RetriesUsed = 0);

/// <summary>What a reply said, split into reasoning and answer.</summary>
public sealed record TeacherReply(string? Content, string? Reasoning, string? Refusal, bool ToolCalls, string? FinishReason, int PromptTokens, int CompletionTokens, JsonNode Raw)
{
    /// <summary>The answer text: content without any &lt;think&gt;…&lt;/think&gt; block.</summary>
    public string Answer => SplitThink(Content).Answer;

    /// <summary>The chain of thought: reasoning_content / reasoning from the API, then a &lt;think&gt; block found in content.</summary>
    public string AllReasoning => string.Join("\n\n", new[] { Reasoning, SplitThink(Content).Think }.Where(x => !string.IsNullOrWhiteSpace(x)).Select(x => x!.Trim()));

    /// <summary>Splits "&lt;think&gt;R&lt;/think&gt;A" (also "R&lt;/think&gt;A", when the template opened the block in the prompt, and an
    /// unclosed "&lt;think&gt;R" cut by max_tokens) into (R, A).</summary>
    public static (string Think, string Answer) SplitThink(string? content)
    {
        if (string.IsNullOrEmpty(content)) return ("", "");
        int close = content.IndexOf("</think>", StringComparison.Ordinal);
        if (close >= 0)
        {
            var think = content[..close].TrimStart();
            if (think.StartsWith("<think>", StringComparison.Ordinal)) think = think["<think>".Length..];
            return (think.Trim(), content[(close + "</think>".Length)..].Trim());
        }
        var t = content.TrimStart();
        if (t.StartsWith("<think>", StringComparison.Ordinal)) return (t["<think>".Length..].Trim(), "");
        return ("", content.Trim());
    }

    /// <summary>Reads a chat-completions reply: one JSON object, or a server-sent event stream of chunks (when extra_body asks
    /// for stream: true), whose deltas of content, reasoning_content / reasoning and refusal are joined.</summary>
    public static TeacherReply Parse(string body)
    {
        var trimmed = body.TrimStart();
        if (trimmed.StartsWith("data:", StringComparison.Ordinal) || trimmed.StartsWith("event:", StringComparison.Ordinal) || trimmed.StartsWith(':'))
            return ParseStream(body);
        var json = JsonNode.Parse(body) ?? throw new FormatException("the reply is empty");
        if (json["error"] is { } err) throw new FormatException($"the reply is an error: {err["message"] ?? err}");
        var choice = json["choices"] is JsonArray { Count: > 0 } cs ? cs[0]! : throw new FormatException("the reply has no choices");
        var m = choice["message"] ?? throw new FormatException("the reply has no choices[0].message");
        return new TeacherReply(Str(m["content"]), Str(m["reasoning_content"]) ?? Str(m["reasoning"]), Str(m["refusal"]),
            m["tool_calls"] is JsonArray { Count: > 0 } || m["function_call"] is JsonObject, Str(choice["finish_reason"]),
            Int(json["usage"]?["prompt_tokens"]), Int(json["usage"]?["completion_tokens"]), json);
    }

    static TeacherReply ParseStream(string body)
    {
        var chunks = new JsonArray();
        System.Text.StringBuilder content = new(), reasoning = new(), refusal = new();
        bool anyContent = false, tools = false;
        string? finish = null;
        int pt = 0, ctoks = 0;
        foreach (var line in body.Split('\n'))
        {
            if (!line.StartsWith("data:", StringComparison.Ordinal)) continue;
            var data = line["data:".Length..].Trim();
            if (data == "[DONE]") break;
            var c = JsonNode.Parse(data) ?? throw new FormatException("an empty event in the stream");
            if (c["error"] is { } err) throw new FormatException($"the stream ended with an error: {err["message"] ?? err}");
            chunks.Add(c);
            if (c["usage"] is JsonObject u) { pt = Int(u["prompt_tokens"]); ctoks = Int(u["completion_tokens"]); }
            if (c["choices"] is not JsonArray { Count: > 0 } cs || cs[0] is not JsonObject ch) continue;
            if (Str(ch["finish_reason"]) is { } f) finish = f;
            if (ch["delta"] is not JsonObject d) continue;
            if (Str(d["content"]) is { } x) { content.Append(x); anyContent = true; }
            if ((Str(d["reasoning_content"]) ?? Str(d["reasoning"])) is { } r) reasoning.Append(r);
            if (Str(d["refusal"]) is { } rf) refusal.Append(rf);
            if (d["tool_calls"] is JsonArray { Count: > 0 }) tools = true;
        }
        if (chunks.Count == 0) throw new FormatException("the event stream has no chunks");
        return new TeacherReply(anyContent ? content.ToString() : null, reasoning.Length > 0 ? reasoning.ToString() : null,
            refusal.Length > 0 ? refusal.ToString() : null, tools, finish, pt, ctoks, chunks);
    }

    static string? Str(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
    static int Int(JsonNode? n) => n is JsonValue v && v.TryGetValue<int>(out var i) ? i : 0;
}

/// <summary>`compact teach`: asks every teacher for a rationale per question (samples per teacher) over the
/// OpenAI chat-completions protocol, with bounded concurrency per teacher, timeouts, and retries with backoff
/// and jitter (Retry-After as a floor) under a per-request and a per-run budget. Every (question, teacher, sample)
/// ends with a verdict — correct, wrong, refused, truncated or failed — appended to the side file with the whole reply
/// as it arrives; a question's dataset line (its correct rationales, reasoning included) is appended once every one of
/// its items has a verdict. Rerunning resumes: items with a verdict are never sent again, except failed ones under
/// RetryFailed, and the dataset is rebuilt from the side file so it always matches it.</summary>
public sealed class TeachRunner
{
    sealed record Task_(BenchItem Question, TeacherSpec Teacher, int Sample);

    /// <summary>The dataset is rebuilt from its side file; a dataset holding questions the side file has no record of
    /// (a missing or different raw file) would lose them, so that is refused unless --overwrite.</summary>
    static void RefuseToLoseDataset(string outPath, string rawPath)
    {
        if (!File.Exists(outPath) || new FileInfo(outPath).Length == 0) return;
        var known = new HashSet<string>(StringComparer.Ordinal);
        if (File.Exists(rawPath))
            foreach (var (_, r) in Jsonl.Read(rawPath, (_, _) => true))
                if (r["id"] is JsonValue v && v.TryGetValue<string>(out var rid)) known.Add(rid);
        int count = 0;
        string? lost = null;
        int lostCount = 0;
        foreach (var line in File.ReadLines(outPath))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            count++;
            string? id = null;
            try { id = JsonNode.Parse(line)?["id"] is JsonValue iv && iv.TryGetValue<string>(out var s) ? s : null; }
            catch (System.Text.Json.JsonException) { }
            if (id is not null && known.Contains(id)) continue;
            lostCount++;
            lost ??= id ?? "(a line without an id)";
        }
        if (lostCount == 0) return;
        throw new CompactException($"{outPath} holds {count} questions, {lostCount} of which {rawPath} has no record of "
            + $"({(File.Exists(rawPath) ? $"e.g. id {lost}" : "that file does not exist")}), so rebuilding the dataset from it would lose them; "
            + "point --raw at its side file, choose another --out, or pass --overwrite to replace it.");
    }

    public static async Task<TeachSummary> RunAsync(IReadOnlyList<BenchItem> questions, IReadOnlyList<TeacherSpec> teachers, TeachOptions o,
        ProgressHost progress, TextWriter log, CancellationToken ct = default)
    {
        var rawPath = o.Raw ?? o.Out + ".raw.jsonl";
        foreach (var t in teachers)
            if (t.ApiKeyEnv is { } env && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(env)))
                throw new CompactException($"teacher {t.Name}: environment variable {env} (api_key_env) is not set; export it or remove api_key_env.");
        // What earlier runs already got: the last record of each item wins (a failed item retried later).
        var answered = new Dictionary<(string, string, int), JsonObject>();
        if (File.Exists(rawPath))
        {
            Jsonl.RepairTail(rawPath);
            foreach (var (_, r) in Jsonl.Read(rawPath, (_, _) => true))
                if (r["id"] is JsonValue && r["teacher"] is JsonValue && r["sample"] is JsonValue)
                    answered[(r["id"]!.GetValue<string>(), r["teacher"]!.GetValue<string>(), r["sample"]!.GetValue<int>())] = r;
        }
        int failedBefore = answered.Count(kv => Verdicts.Of(kv.Value) == Verdicts.Failed);
        if (o.RetryFailed)
            foreach (var k in answered.Where(kv => Verdicts.Of(kv.Value) == Verdicts.Failed).Select(kv => kv.Key).ToList()) answered.Remove(k);
        var tasks = new List<Task_>();
        foreach (var q in questions)
            foreach (var t in teachers)
                for (int s = 0; s < t.Samples; s++)
                    if (!answered.ContainsKey((q.Id, t.Name, s))) tasks.Add(new Task_(q, t, s));
        // The dataset always equals what the side file says: rebuild it, then append as questions complete.
        var complete = questions.Where(q => teachers.All(t => Enumerable.Range(0, t.Samples).All(s => answered.ContainsKey((q.Id, t.Name, s))))).ToList();
        int written = 0;
        var dataset = new List<JsonNode>();
        foreach (var q in complete) if (Line(q, teachers, answered) is { } mq) { dataset.Add(mq.ToJson()); written++; }
        if (!o.Overwrite) RefuseToLoseDataset(o.Out, rawPath);
        AtomicFile.WriteAllText(o.Out, string.Concat(dataset.Select(d => d.ToJsonString(Jsonl.Options) + "\n")));
        if (tasks.Count < questions.Count * teachers.Sum(t => t.Samples))
            log.WriteLine($"Resuming: {answered.Count} items already have a verdict in {rawPath}; {tasks.Count} requests to go"
                + (!o.RetryFailed && failedBefore > 0 ? $" ({failedBefore} failed items kept as failed; pass --retry-failed to ask again)." : "."));

        var remaining = questions.ToDictionary(q => q.Id, q => teachers.Sum(t => Enumerable.Range(0, t.Samples).Count(s => !answered.ContainsKey((q.Id, t.Name, s)))));
        var gate = new object();
        var stats = teachers.ToDictionary(t => t.Name, _ => new Dictionary<string, int>());
        var tokens = teachers.ToDictionary(t => t.Name, _ => 0L);
        var budget = new RetryBudget(o.RetryBudget);
        var started = Stopwatch.StartNew();
        using var raw = new JsonlWriter(rawPath);
        using var data = new JsonlWriter(o.Out);

        var titles = teachers.Select(t => (t.Name, (double)tasks.Count(x => x.Teacher == t))).ToList();
        await progress.RunManyAsync(titles, async bars =>
        {
            await Task.WhenAll(teachers.Select(async (t, ti) =>
            {
                // The SDK's own retries are off: ours below honour Retry-After and count attempts per request.
                var client = new ChatClient(t.Model, new ApiKeyCredential(t.ApiKeyEnv is { } env ? Environment.GetEnvironmentVariable(env)! : "none"),
                    new OpenAIClientOptions
                    {
                        Endpoint = new Uri(t.BaseUrl), RetryPolicy = new ClientRetryPolicy(0),
                        NetworkTimeout = TimeSpan.FromSeconds(t.TimeoutSeconds),
                    });
                var mine = tasks.Where(x => x.Teacher == t).ToList();
                var rng = new Random(Seeds.Mix(ti, 17));              // jitter only; shared by this teacher's tasks (locked)
                await Parallel.ForEachAsync(mine, new ParallelOptions { MaxDegreeOfParallelism = t.Concurrency, CancellationToken = ct }, async (task, token) =>
                {
                    var rec = await Ask(client, task, o.Backoff, rng, budget, token);
                    raw.Write(rec);
                    lock (gate)
                    {
                        var st = stats[t.Name];
                        var verdict = Verdicts.Of(rec);
                        st[verdict] = st.GetValueOrDefault(verdict) + 1;
                        tokens[t.Name] += rec["completion_tokens"]?.GetValue<int>() ?? 0;
                        answered[(task.Question.Id, t.Name, task.Sample)] = rec;
                        if (--remaining[task.Question.Id] == 0 && Line(task.Question, teachers, answered) is { } mq)
                        {
                            data.Write(mq.ToJson());
                            written++;
                        }
                        int done = st.Values.Sum();
                        double secs = Math.Max(1e-3, started.Elapsed.TotalSeconds);
                        bars[ti].Set(done, $"correct {st.GetValueOrDefault(Verdicts.Correct)}, failed {st.GetValueOrDefault(Verdicts.Failed)}, {tokens[t.Name]} tok, {done / secs:0.0}/s");
                    }
                });
            }));
        });
        var summary = teachers.Select(t =>
        {
            var st = stats[t.Name];
            return new TeacherStats(t.Name, tasks.Count(x => x.Teacher == t), st.Values.Sum(), st.GetValueOrDefault(Verdicts.Correct), st.GetValueOrDefault(Verdicts.Wrong),
                st.GetValueOrDefault(Verdicts.Refused), st.GetValueOrDefault(Verdicts.Truncated), st.GetValueOrDefault(Verdicts.Failed), tokens[t.Name], started.Elapsed.TotalSeconds);
        }).ToList();
        return new TeachSummary(questions.Count, written, tasks.Count, questions.Count * teachers.Sum(t => t.Samples) - tasks.Count, summary, o.Out, rawPath, budget.Used);
    }

    /// <summary>Retries left in the whole run (thread-safe).</summary>
    sealed class RetryBudget(int total)
    {
        int _used;
        public int Total => total;
        public int Used => Math.Min(Volatile.Read(ref _used), total);
        public bool TryTake() => Interlocked.Increment(ref _used) <= total;
    }

    /// <summary>The dataset line of a question: its correct rationales, in teacher order; null when none is correct.</summary>
    static MtQuestion? Line(BenchItem q, IReadOnlyList<TeacherSpec> teachers, Dictionary<(string, string, int), JsonObject> answered)
    {
        var rs = new List<Rationale>();
        foreach (var t in teachers)
            for (int s = 0; s < t.Samples; s++)
                if (answered.TryGetValue((q.Id, t.Name, s), out var r) && Verdicts.Of(r) == Verdicts.Correct)
                    rs.Add(new Rationale(t.Samples > 1 ? $"{t.Name}#{s + 1}" : t.Name, r["text"]!.GetValue<string>()));
        return rs.Count == 0 ? null : new MtQuestion(q.Id, q.Question, q.Gold, rs, q.Subject, q.Choices);
    }

    /// <summary>The request body. Written by hand (the protocol method) so that the fields are exactly the teacher's:
    /// its max-tokens field, temperature only when set, stop, and extra_body merged last.</summary>
    public static JsonObject Body(TeacherSpec t, BenchItem q, int sample)
    {
        var messages = new JsonArray();
        if (t.System is not null) messages.Add(new JsonObject { ["role"] = "system", ["content"] = t.System });
        messages.Add(new JsonObject { ["role"] = "user", ["content"] = t.Render(q) });
        var body = new JsonObject { ["model"] = t.Model, ["messages"] = messages, [t.MaxTokensField] = t.MaxTokens, ["seed"] = sample };
        if (t.Temperature is { } temp) body["temperature"] = temp;
        if (t.Stop is { Count: > 0 } stop) body["stop"] = new JsonArray(stop.Select(x => (JsonNode)x).ToArray());
        if (t.ExtraBody is not null) Merge(body, t.ExtraBody);
        return body;
    }

    /// <summary>Deep merge: objects merge key by key, anything else replaces.</summary>
    static void Merge(JsonObject into, JsonObject from)
    {
        foreach (var (k, v) in from)
        {
            if (v is JsonObject vo && into[k] is JsonObject io) Merge(io, vo);
            else into[k] = v?.DeepClone();
        }
    }

    /// <summary>Judges a reply. Truncated (finish_reason length) and refused (a refusal, tool calls, a content filter, or nothing
    /// to read) come first; otherwise the final answer is read from the answer text (the reasoning when the answer is empty).</summary>
    public static JsonObject Judge(TeacherReply reply, BenchItem q, TeacherSpec t)
    {
        var rec = new JsonObject();
        string answer = reply.Answer, reasoning = reply.AllReasoning;
        string text = t.Rationale switch
        {
            RationaleSource.Content => answer,
            RationaleSource.Reasoning => reasoning.Length > 0 ? reasoning : answer,
            _ => reasoning.Length > 0 && answer.Length > 0 ? reasoning + "\n\n" + answer : reasoning + answer,
        };
        rec["content"] = reply.Content;
        rec["reasoning"] = reasoning.Length > 0 ? reasoning : null;
        rec["text"] = text;
        rec["finish_reason"] = reply.FinishReason;
        string verdict;
        if (reply.FinishReason == "length") { verdict = Verdicts.Truncated; rec["reason"] = "cut at max_tokens (finish_reason: length)"; }
        else if (answer.Length == 0 && reply.Refusal is { Length: > 0 }) { verdict = Verdicts.Refused; rec["reason"] = $"refusal: {reply.Refusal}"; }
        else if (answer.Length == 0 && reply.ToolCalls) { verdict = Verdicts.Refused; rec["reason"] = "answered with tool_calls instead of text"; }
        else if (reply.FinishReason == "content_filter") { verdict = Verdicts.Refused; rec["reason"] = "stopped by the server's content filter"; }
        else if (text.Trim().Length == 0) { verdict = Verdicts.Refused; rec["reason"] = "the reply has neither content nor reasoning"; }
        else
        {
            var v = AnswerCheck.CheckRationale(q.Kind, q.Gold, answer.Length > 0 ? answer : reasoning, q.Choices);
            verdict = v.Correct ? Verdicts.Correct : Verdicts.Wrong;
            rec["extracted"] = v.Extracted;
            rec["reason"] = v.Reason;
        }
        if (reply.Refusal is not null) rec["refusal"] = reply.Refusal;
        rec["verdict"] = verdict;
        rec["correct"] = verdict == Verdicts.Correct;
        return rec;
    }

    /// <summary>One request with retries.</summary>
    static async Task<JsonObject> Ask(ChatClient client, Task_ task, Backoff backoff, Random rng, RetryBudget budget, CancellationToken ct)
    {
        var t = task.Teacher;
        var body = Body(t, task.Question, task.Sample);
        var rec = new JsonObject { ["id"] = task.Question.Id, ["teacher"] = t.Name, ["sample"] = task.Sample };
        var sw = Stopwatch.StartNew();
        string? lastError = null;
        int attempt = 0;
        for (; ; attempt++)
        {
            int status = 0;
            TimeSpan? retryAfter = null;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(t.TimeoutSeconds));
                var result = await client.CompleteChatAsync(BinaryContent.Create(BinaryData.FromString(body.ToJsonString())),
                    new RequestOptions { CancellationToken = timeout.Token, BufferResponse = true });
                var reply = TeacherReply.Parse(result.GetRawResponse().Content.ToString());
                rec["status"] = "ok";
                foreach (var (k, v) in Judge(reply, task.Question, t)) rec[k] = v?.DeepClone();
                rec["prompt_tokens"] = reply.PromptTokens;
                rec["completion_tokens"] = reply.CompletionTokens;
                rec["attempts"] = attempt + 1;
                rec["latency_s"] = Math.Round(sw.Elapsed.TotalSeconds, 3);
                rec["response"] = reply.Raw.DeepClone();
                return rec;
            }
            catch (ClientResultException e)
            {
                status = e.Status;
                var raw = e.GetRawResponse();
                if (raw is not null && raw.Headers.TryGetValue("Retry-After", out var ra)) retryAfter = Backoff.ParseRetryAfter(ra, DateTimeOffset.UtcNow);
                lastError = status == 0 ? $"no response ({e.InnerException?.Message ?? e.Message})" : $"HTTP {status}: {FirstLine(raw?.Content?.ToString() ?? e.Message)}";
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                lastError = $"timed out after {t.TimeoutSeconds:0.#} s";
            }
            catch (Exception e) when (e is HttpRequestException or FormatException or JsonException or InvalidOperationException or KeyNotFoundException or ArgumentException)
            {
                lastError = e is JsonException ? $"the reply is not valid JSON ({e.Message.Split('.')[0]})" : e.Message;
                status = e is HttpRequestException ? 0 : 502;
            }
            if (!Backoff.Retryable(status)) break;
            if (attempt == t.MaxRetries) { lastError += $" (gave up after {attempt + 1} attempts: max_retries {t.MaxRetries})"; break; }
            if (!budget.TryTake()) { lastError += $" (the run's retry budget of {budget.Total} is spent)"; break; }
            TimeSpan delay;
            lock (rng) delay = backoff.Delay(attempt, retryAfter, rng);     // Random is not thread-safe
            await Task.Delay(delay, ct);
        }
        rec["status"] = "failed";
        rec["verdict"] = Verdicts.Failed;
        rec["correct"] = false;
        rec["error"] = lastError;
        rec["attempts"] = attempt + 1;
        rec["latency_s"] = Math.Round(sw.Elapsed.TotalSeconds, 3);
        return rec;
    }

    static string FirstLine(string s) => s.Split('\n')[0].Trim() is { Length: > 300 } l ? l[..300] : s.Split('\n')[0].Trim();
}
