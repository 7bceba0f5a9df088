using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.IO;
using Compact.Util;

namespace Compact.Eval;

/// <summary>A model to evaluate. <paramref name="Open"/> loads it only when some question still needs an answer
/// (a fully resumed model is never loaded). <paramref name="Describe"/> (folders, adapter) is part of the settings a
/// resumed run must match. <paramref name="Settings"/>, when given, replaces <see cref="EvalOptions.Settings"/> for this
/// model (a server has no --dtype).</summary>
public sealed record EvalModel(string Name, Func<IAnswerer> Open, JsonObject? Describe = null, JsonObject? Settings = null);

/// <summary>A benchmark to evaluate: the selected <paramref name="Items"/> of <paramref name="Source"/> (which held
/// <paramref name="Total"/>), and the few-shot examples shown before each question.</summary>
public sealed record EvalBench(string Name, string Source, IReadOnlyList<BenchItem> Items, IReadOnlyList<BenchItem> Shots, int Total);

public sealed record EvalOptions
{
    /// <summary>Questions per <see cref="IAnswerer.Answer"/> call (one batched generation).</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>System message; null: the default per answer kind (<see cref="EvalPrompts.DefaultInstruction"/>); "": none.</summary>
    public string? Instruction { get; init; }
    /// <summary>Whatever else changes the answers (max_new_tokens, dtype): recorded beside the predictions, and a
    /// resumed run must match it.</summary>
    public JsonObject Settings { get; init; } = new();
}

/// <summary>One model on one benchmark.</summary>
/// <param name="BySubject">Scores per subject, when the items have subjects (MATH500, SVAMP types); else empty.</param>
/// <param name="ByLevel">Scores per difficulty level, when the items have levels (MATH500); else empty.</param>
/// <param name="AnsweredNow">Questions answered by this run; the rest came from the predictions file.</param>
/// <param name="Verdicts">Each scored question's verdict by id (for paired comparisons between models).</param>
/// <param name="Unanswered">Questions a server gave no reply to after every retry: not scored, asked again next run.</param>
public sealed record BenchResult(string Model, string Bench, Score Score, IReadOnlyList<Group> BySubject,
    IReadOnlyList<Group> ByLevel, string Predictions, int AnsweredNow,
    IReadOnlyDictionary<string, bool>? Verdicts = null, int Unanswered = 0);

/// <summary>The score of the items sharing one subject or level.</summary>
public sealed record Group(string Key, Score Score);

/// <summary>Evaluates models on benchmarks: every prediction appended to
/// <c>OUT/&lt;model&gt;/&lt;bench&gt;.predictions.jsonl</c> as soon as its batch is answered (so an interrupted run loses
/// at most one batch), questions already in that file skipped on the next run, then the comparison written to
/// <c>OUT/results.{json,md,csv}</c>. With batches, questions are answered (and written) longest first; the results do
/// not depend on the order. A server (<see cref="IConcurrentAnswerer"/>) gets its questions in file order, several in
/// flight, and each prediction is written as its reply arrives; a question it never answered goes to
/// <c>&lt;bench&gt;.errors.jsonl</c> instead and is asked again on the next run.</summary>
public static class EvalRunner
{
    public static string PredictionsPath(string outDir, string model, string bench) => Path.Combine(outDir, model, $"{bench}.predictions.jsonl");

    public static string ErrorsPath(string outDir, string model, string bench) => Path.Combine(outDir, model, $"{bench}.errors.jsonl");

    public static string SettingsPath(string outDir, string model, string bench) => Path.Combine(outDir, model, $"{bench}.settings.json");

    public static EvalReport Run(IReadOnlyList<EvalModel> models, IReadOnlyList<EvalBench> benches, EvalOptions o, string outDir,
        TextWriter log, ProgressHost progress, CancellationToken ct = default)
    {
        if (o.BatchSize < 1) throw new CompactException($"--batch-size must be at least 1 (got {o.BatchSize}).");
        var results = new List<BenchResult>();
        foreach (var m in models)
        {
            IAnswerer? answerer = null;
            try
            {
                foreach (var b in benches)
                {
                    var r = RunBench(m, () => answerer ??= m.Open(), b, o, outDir, progress, ct);
                    int resumed = r.Score.N - r.AnsweredNow;
                    log.WriteLine($"{m.Name} · {b.Name}: {r.Score.Correct}/{r.Score.N} correct, {r.Score.Cell()}"
                        + (resumed > 0 ? $"; {resumed} answers from an earlier run" : "") + $" → {r.Predictions}");
                    if (r.Unanswered > 0)
                        log.WriteLine($"{m.Name} · {b.Name}: {r.Unanswered} questions got no reply from the server (why: {ErrorsPath(outDir, m.Name, b.Name)}); "
                            + "they are not scored; run the same command again to ask them again.");
                    results.Add(r);
                }
            }
            finally { answerer?.Dispose(); }
        }
        var report = new EvalReport(models.Select(m => m.Name).ToList(), benches.Select(b => b.Name).ToList(), results);
        report.Write(outDir);
        return report;
    }

    /// <summary>One model on one benchmark, resuming from its predictions file.</summary>
    public static BenchResult RunBench(EvalModel m, Func<IAnswerer> open, EvalBench b, EvalOptions o, string outDir,
        ProgressHost progress, CancellationToken ct = default)
    {
        var questions = b.Items.Select(i => EvalPrompts.Build(i, o.Instruction, b.Shots)).ToList();
        var path = PredictionsPath(outDir, m.Name, b.Name);
        var settings = new JsonObject
        {
            ["model"] = m.Describe?.DeepClone() ?? new JsonObject { ["name"] = m.Name },
            ["benchmark"] = b.Name,
            ["system"] = questions.Count > 0 ? questions[0].System : null,
            ["few_shot"] = new JsonArray(b.Shots.Select(s => (JsonNode)s.Id).ToArray()),
        };
        foreach (var (k, v) in m.Settings ?? o.Settings) settings[k] = v?.DeepClone();
        CheckSettings(SettingsPath(outDir, m.Name, b.Name), path, settings);

        var done = ReadDone(path, b.Items);
        var todo = questions.Where(q => !done.ContainsKey(q.Item.Id)).ToList();
        int unanswered = 0;
        if (todo.Count > 0)
        {
            var answerer = open();
            using var w = new JsonlWriter(path);
            if (answerer is IConcurrentAnswerer server)
                unanswered = AskServer(server, m, b, todo, w, done, outDir, progress, ct);
            else
                progress.Run($"{m.Name} · {b.Name}", todo.Count, task =>
                {
                    // Batches of similar length waste less on padding (left-padded to the longest prompt): longest first, ties
                    // in file order, so the first batch shows at once whether memory suffices. One at a time (and a server)
                    // keeps file order.
                    var ordered = o.BatchSize > 1 ? todo.OrderByDescending(q => q.User.Length).ToList() : todo;
                    foreach (var batch in ordered.Chunk(o.BatchSize))
                    {
                        ct.ThrowIfCancellationRequested();
                        var outputs = answerer.Answer(batch, ct);
                        if (outputs.Count != batch.Length)
                            throw new InvalidOperationException($"the answerer returned {outputs.Count} answers for {batch.Length} questions.");
                        for (int k = 0; k < batch.Length; k++)
                        {
                            var record = Record(batch[k].Item, outputs[k], b.Source);
                            w.Write(record);
                            done[batch[k].Item.Id] = record["correct"]!.GetValue<bool>();
                        }
                        task.Increment(batch.Length);
                    }
                });
        }

        var score = new Score();
        var bySubject = new Dictionary<string, Score>(StringComparer.Ordinal);
        var byLevel = new Dictionary<string, Score>(StringComparer.Ordinal);
        foreach (var item in b.Items)
        {
            if (!done.TryGetValue(item.Id, out var correct)) continue;     // unanswered by a server: asked again next run
            score = score.Add(correct);
            if (item.Subject is { } s) bySubject[s] = bySubject.GetValueOrDefault(s).Add(correct);
            if (item.Level is { } l) byLevel[l] = byLevel.GetValueOrDefault(l).Add(correct);
        }
        return new BenchResult(m.Name, b.Name, score, Sorted(bySubject), Sorted(byLevel), path, todo.Count - unanswered,
            b.Items.Where(i => done.ContainsKey(i.Id)).ToDictionary(i => i.Id, i => done[i.Id], StringComparer.Ordinal), unanswered);
    }

    /// <summary>Up to <see cref="IConcurrentAnswerer.Concurrency"/> questions in flight; each reply written the moment it
    /// arrives (a kill loses only the replies still in flight); a question without a reply after every retry is logged to
    /// the errors file (which holds the latest run's only) and left unscored. When max(5, 2 × concurrency) questions in a
    /// row get no reply the server is taken to be gone and the run stops, rather than wait out every question's retries.
    /// Returns how many were left.</summary>
    static int AskServer(IConcurrentAnswerer server, EvalModel m, EvalBench b, List<EvalQuestion> todo, JsonlWriter w,
        Dictionary<string, bool> done, string outDir, ProgressHost progress, CancellationToken ct)
    {
        server.CheckAsync(ct).GetAwaiter().GetResult();
        int unanswered = 0, inARow = 0, giveUp = Math.Max(5, 2 * server.Concurrency);
        string? lastError = null;
        var gate = new object();
        var errorsPath = ErrorsPath(outDir, m.Name, b.Name);
        if (File.Exists(errorsPath)) File.Delete(errorsPath);          // its questions are asked again now
        JsonlWriter? errors = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            progress.Run($"{m.Name} · {b.Name}", todo.Count, task =>
                Parallel.ForEachAsync(todo, new ParallelOptions { MaxDegreeOfParallelism = server.Concurrency, CancellationToken = stop.Token }, async (q, token) =>
                {
                    Reply reply;
                    try { reply = await server.AnswerOneAsync(q, token); }
                    catch (EndpointFailureException e)
                    {
                        lock (gate)
                        {
                            lastError = e.Message;
                            if (++inARow >= giveUp) stop.Cancel();
                            errors ??= new JsonlWriter(errorsPath);
                            errors.Write(new JsonObject
                            {
                                ["id"] = q.Item.Id, ["error"] = e.Message, ["attempts"] = e.Attempts,
                                ["time"] = DateTimeOffset.UtcNow.ToString("o", System.Globalization.CultureInfo.InvariantCulture),
                            });
                            unanswered++;
                            task.Increment(1);
                        }
                        return;
                    }
                    var record = Record(q.Item, reply, b.Source);
                    lock (gate)
                    {
                        inARow = 0;
                        w.Write(record);
                        done[q.Item.Id] = record["correct"]!.GetValue<bool>();
                        task.Increment(1);
                    }
                }).GetAwaiter().GetResult());
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && stop.IsCancellationRequested)
        {
            throw new CompactException($"{m.Name}: the server stopped answering ({giveUp} questions in a row got no reply; the last: {lastError}); "
                + $"the {done.Count} answers so far are saved (the rest in {errorsPath}); run the same command again once the server is back.");
        }
        finally { errors?.Dispose(); }
        return unanswered;
    }

    /// <summary>The prediction line of a completion (<see cref="Record(BenchItem, Reply, string)"/>).</summary>
    public static JsonObject Record(BenchItem item, string prediction, string source = "") => Record(item, new Reply(prediction), source);

    /// <summary>The prediction line (<see cref="EvalRecord"/>) of a reply.</summary>
    public static JsonObject Record(BenchItem item, Reply reply, string source = "") => EvalRecord.From(item, reply, source).ToJson();

    /// <summary>Verdicts already in the predictions file, by id (its unterminated last line, if a crash left one, is cut
    /// first). A line whose id is evaluated now must carry the same gold answer.</summary>
    static Dictionary<string, bool> ReadDone(string path, IReadOnlyList<BenchItem> items)
    {
        var done = new Dictionary<string, bool>(StringComparer.Ordinal);
        if (!File.Exists(path)) return done;
        Jsonl.RepairTail(path);
        var byId = items.ToDictionary(i => i.Id, StringComparer.Ordinal);
        const string fix = "delete that line and run again to answer its question anew";
        foreach (var (line, o) in Jsonl.Read(path, (n, why) => throw new CompactException($"{path}:{n}: {why}; {fix}.")))
        {
            if (EvalRecord.TryFrom(o) is not { } r)
                throw new CompactException($"{path}:{line}: a prediction needs a string \"id\" and a boolean \"correct\"; {fix}.");
            if (byId.TryGetValue(r.Id, out var item) && r.Gold is { } gold && gold != item.Gold)
                throw new CompactException($"{path}:{line}: gold answer \"{gold}\" of {r.Id} differs from \"{item.Gold}\" in the benchmark file, so these predictions belong to another file; use another --out, or delete {path}.");
            done[r.Id] = r.Correct;
        }
        return done;
    }

    /// <summary>Settings that shape the answers (model, instruction, few-shot ids, generation length, dtype) are kept in
    /// a sidecar file; resuming with others would mix two experiments in one file, so it is refused.</summary>
    static void CheckSettings(string settingsPath, string predictionsPath, JsonObject settings)
    {
        if (File.Exists(settingsPath) && File.Exists(predictionsPath))
        {
            JsonObject? old;
            try { old = JsonNode.Parse(File.ReadAllText(settingsPath)) as JsonObject; }
            catch (JsonException) { old = null; }
            if (old is not null)
            {
                foreach (var key in old.Select(kv => kv.Key).Union(settings.Select(kv => kv.Key)))
                {
                    if (JsonNode.DeepEquals(old[key], settings[key])) continue;
                    throw new CompactException($"{predictionsPath} was made with other settings ({key}: {Show(old[key])} then, {Show(settings[key])} now); "
                        + $"use another --out, or delete {predictionsPath} to answer that benchmark again.");
                }
                return;
            }
        }
        AtomicFile.WriteAllText(settingsPath, settings.ToJsonString(Compact.Util.Jsonl.Indented));
    }

    static string Show(JsonNode? n)
    {
        var s = n?.ToJsonString() ?? "null";
        return s.Length > 80 ? s[..77] + "..." : s;
    }

    /// <summary>Groups in natural key order: numbers first by value ("2" before "10"), then text.</summary>
    static List<Group> Sorted(Dictionary<string, Score> d) => d
        .OrderBy(kv => double.TryParse(kv.Key, System.Globalization.CultureInfo.InvariantCulture, out var x) ? x : double.MaxValue)
        .ThenBy(kv => kv.Key, StringComparer.Ordinal)
        .Select(kv => new Group(kv.Key, kv.Value)).ToList();
}
