using System.Diagnostics;
using System.Text.Json.Nodes;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Cli.Commands;
using Compact.Eval;
using Compact.Generation;
using Compact.Serving;
using Compact.Tests.Benchmarks;
using Compact.Tests.Training;
using static Compact.Tests.Eval.EvalFixtures;

namespace Compact.Tests.Eval;

/// <summary>`compact eval --endpoint`: models behind OpenAI-compatible servers, evaluated like local ones.</summary>
public class EndpointTests
{
    static readonly string Gsm8kFile = BenchmarkFiles.PathOf("gsm8k_test.jsonl");
    static readonly IReadOnlyList<BenchItem> Items = Real("gsm8k").Take(12).ToList();
    static readonly RetryPolicy Fast = new(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(200));

    /// <summary>Index of the question a zero-shot user message asks.</summary>
    static int IndexOf(string user) => Items.Select((it, k) => (it, k)).Single(p => p.it.Question.Trim() == user).k;

    static EvalCommand.Args Args(string outDir, string endpoint, int limit = 12, int concurrency = 4, int retries = 4, double timeout = 20) =>
        new(null, null, [], [$"gsm8k={Gsm8kFile}"], outDir, Limit: limit, MaxNewTokens: 64)
        {
            Endpoints = [endpoint], Concurrency = concurrency, MaxRetries = retries, RequestTimeout = timeout, Retry = Fast,
        };

    static (int Code, string Out) Eval(EvalCommand.Args a)
    {
        var o = new StringWriter();
        int code = EvalCommand.Run(a, o);
        return (code, o.ToString());
    }

    [Fact]
    public async Task A_slow_failing_throttling_refusing_reasoning_server_gives_complete_correct_predictions()
    {
        using var dir = new TestUtil.TempDir();
        // Per question k (k mod 6): 0 fails once with 500; 1 is throttled once (429, Retry-After 0.3 s); 2 answers after
        // 200 ms; 3 refuses; 4 replies nothing; 5 reasons (reasoning_content for k = 5, a <think> block for k = 11) with
        // a wrong number in the reasoning and the right final answer. Right: k mod 6 in {0, 1, 2, 5} = 8 of 12.
        await using var server = await new OpenAiTestServer((user, n) =>
        {
            int k = IndexOf(user);
            var gold = ScriptedAnswerer.GoldText(Items[k]);
            return (k % 6) switch
            {
                0 when n == 1 => new Act.Fail(500),
                1 when n == 1 => new Act.Fail(429, RetryAfter: "0.3"),
                2 => new Act.Answer(gold, Delay: TimeSpan.FromMilliseconds(200)),
                3 => new Act.Answer("", Refusal: "I can't help with that."),
                4 => new Act.Answer(""),
                5 when k == 5 => new Act.Answer(gold, Reasoning: "Let me think. The answer is: 0"),
                5 => new Act.Answer($"<think>\nMaybe 0.\n</think>\n\n{gold}"),
                _ => new Act.Answer(gold),
            };
        }).StartAsync();

        var r = Eval(Args(dir["out"], $"flaky={server.BaseUrl}#m"));
        Assert.True(r.Code == 0, r.Out);

        var lines = Lines(EvalRunner.PredictionsPath(dir["out"], "flaky", "gsm8k")).ToDictionary(l => l["id"]!.GetValue<string>());
        Assert.Equal(Items.Select(i => i.Id).Order(), lines.Keys.Order());                 // complete, each question once
        for (int k = 0; k < 12; k++)
            Assert.Equal(k % 6 is 0 or 1 or 2 or 5, lines[Items[k].Id]["correct"]!.GetValue<bool>());
        var json = JsonNode.Parse(File.ReadAllText(dir["out/results.json"]))!["results"]!["flaky"]!["gsm8k"]!;
        Assert.Equal(8, json["correct"]!.GetValue<int>());
        Assert.Equal(12, json["n"]!.GetValue<int>());

        JsonObject L(int k) => lines[Items[k].Id];
        Assert.Equal("refused: I can't help with that.", L(3)["reason"]!.GetValue<string>());
        Assert.Equal("empty reply", L(4)["reason"]!.GetValue<string>());
        Assert.Equal("Let me think. The answer is: 0", L(5)["reasoning"]!.GetValue<string>());
        Assert.Equal(ScriptedAnswerer.GoldText(Items[5]), L(5)["prediction"]!.GetValue<string>());
        Assert.Equal("Maybe 0.", L(11)["reasoning"]!.GetValue<string>());
        Assert.Equal(ScriptedAnswerer.GoldText(Items[11]), L(11)["prediction"]!.GetValue<string>());
        Assert.Equal(2, L(0)["attempts"]!.GetValue<int>());
        Assert.Equal(1, L(2)["attempts"]!.GetValue<int>());
        Assert.Equal(7, L(2)["completion_tokens"]!.GetValue<int>());
        Assert.Equal("stop", L(2)["finish_reason"]!.GetValue<string>());

        // Retry-After is a floor: the backoff alone would wait 5–10 ms.
        var throttled = server.Log.Where(e => e.User == Items[1].Question.Trim()).Select(e => e.At).ToList();
        Assert.Equal(2, throttled.Count);
        Assert.True(throttled[1] - throttled[0] >= TimeSpan.FromMilliseconds(290), $"retried after {(throttled[1] - throttled[0]).TotalMilliseconds} ms");
        Assert.InRange(server.MaxInFlight, 1, 4);                                           // --concurrency 4
        // The request: greedy, max_tokens = --max-new-tokens, the default instruction as system message.
        var body = server.Log.First().Body;
        Assert.Equal("m", body["model"]!.GetValue<string>());
        Assert.Equal(0, body["temperature"]!.GetValue<int>());
        Assert.Equal(64, body["max_tokens"]!.GetValue<int>());
        Assert.Equal(EvalPrompts.DefaultInstruction(AnswerKind.Numeric), body["messages"]![0]!["content"]!.GetValue<string>());

        // The settings a resumed run must match name the server and model; a server has no dtype.
        var settings = JsonNode.Parse(File.ReadAllText(EvalRunner.SettingsPath(dir["out"], "flaky", "gsm8k")))!;
        Assert.Equal("m", settings["model"]!["served_model"]!.GetValue<string>());
        Assert.Equal(64, settings["max_new_tokens"]!.GetValue<int>());
        Assert.Null(settings["dtype"]);

        // Run again: nothing is asked twice.
        int requests = server.Log.Count;
        var again = Eval(Args(dir["out"], $"flaky={server.BaseUrl}#m"));
        Assert.Equal(0, again.Code);
        Assert.Equal(requests, server.Log.Count);
        Assert.Contains("12 answers from an earlier run", again.Out);
    }

    [Fact]
    public async Task Questions_the_server_never_answers_are_left_unscored_and_asked_again_next_run()
    {
        using var dir = new TestUtil.TempDir();
        bool down = true;
        // Question 2 fails with 503 until the server is "up"; 5 hangs past the 1 s timeout once, then answers; 7 gets a 422
        // on every attempt (after others have succeeded: the server declines that question).
        await using var server = await new OpenAiTestServer((user, n) => IndexOf(user) switch
        {
            2 when down => new Act.Fail(503),
            5 when n == 1 => new Act.Stall(),
            7 => new Act.Fail(422),
            var k => new Act.Answer(ScriptedAnswerer.GoldText(Items[k])),
        }).StartAsync();
        var a = Args(dir["out"], $"{server.BaseUrl}#m", retries: 2, timeout: 1);   // named after the served model: "m"

        var r = Eval(a);
        Assert.Equal(1, r.Code);
        Assert.Contains("Incomplete: 1 questions got no reply", r.Out);
        Assert.Equal(11, Lines(EvalRunner.PredictionsPath(dir["out"], "m", "gsm8k")).Count);
        var error = Lines(EvalRunner.ErrorsPath(dir["out"], "m", "gsm8k")).Single();
        Assert.Equal(Items[2].Id, error["id"]!.GetValue<string>());
        Assert.Equal(3, error["attempts"]!.GetValue<int>());                        // 1 + --max-retries 2
        Assert.Contains("HTTP 503: scripted failure 503", error["error"]!.GetValue<string>());
        Assert.Equal(11, JsonNode.Parse(File.ReadAllText(dir["out/results.json"]))!["results"]!["m"]!["gsm8k"]!["n"]!.GetValue<int>());
        var lines = Lines(EvalRunner.PredictionsPath(dir["out"], "m", "gsm8k")).ToDictionary(l => l["id"]!.GetValue<string>());
        Assert.Equal(2, lines[Items[5].Id]["attempts"]!.GetValue<int>());          // timed out once, then answered
        Assert.True(lines[Items[5].Id]["correct"]!.GetValue<bool>());
        Assert.False(lines[Items[7].Id]["correct"]!.GetValue<bool>());
        Assert.Equal("the server rejected the request (HTTP 422: scripted failure 422)", lines[Items[7].Id]["reason"]!.GetValue<string>());

        down = false;
        var before = server.Attempts.ToDictionary();
        r = Eval(a);
        Assert.True(r.Code == 0, r.Out);
        Assert.Equal(12, Lines(EvalRunner.PredictionsPath(dir["out"], "m", "gsm8k")).Count);
        foreach (var (user, n) in server.Attempts)                                  // only question 2 was asked again
            Assert.Equal(IndexOf(user) == 2 ? before[user] + 1 : before[user], n);
        Assert.Equal(11, JsonNode.Parse(File.ReadAllText(dir["out/results.json"]))!["results"]!["m"]!["gsm8k"]!["correct"]!.GetValue<int>());   // all but 7
    }

    [Fact]
    public async Task A_server_that_stops_answering_stops_the_run_instead_of_retrying_every_question()
    {
        using var dir = new TestUtil.TempDir();
        await using var server = await new OpenAiTestServer((user, _) =>
            IndexOf(user) < 3 ? new Act.Answer(ScriptedAnswerer.GoldText(Items[IndexOf(user)])) : new Act.Fail(502)).StartAsync();
        // One at a time, no retries: questions 0–2 answered, then 5 in a row (max(5, 2 × 1)) without reply.
        var e = Assert.Throws<CompactException>(() => Eval(Args(dir["out"], $"s={server.BaseUrl}#m", concurrency: 1, retries: 0)));
        Assert.Contains("the server stopped answering (5 questions in a row got no reply; the last: HTTP 502: scripted failure 502", e.Message);
        Assert.Contains("the 3 answers so far are saved", e.Message);
        Assert.Equal(8, server.Log.Count);                                          // not 12
        Assert.Equal(3, Lines(EvalRunner.PredictionsPath(dir["out"], "s", "gsm8k")).Count);
        Assert.Equal(5, Lines(EvalRunner.ErrorsPath(dir["out"], "s", "gsm8k")).Count);
    }

    [Fact]
    public async Task Setup_errors_stop_the_run_with_the_fix()
    {
        using var dir = new TestUtil.TempDir();
        await using var server = await new OpenAiTestServer((_, _) => new Act.Fail(400)).StartAsync();
        var e = Assert.Throws<CompactException>(() => Eval(Args(dir["a"], $"x={server.BaseUrl}#nope")));
        Assert.Contains("HTTP 404: The model `nope` does not exist; the server lists \"m\": pick one with --served-model", e.Message);
        e = Assert.Throws<CompactException>(() => Eval(Args(dir["b"], $"x={server.BaseUrl}#m")));
        Assert.Contains("the server rejects the first requests (HTTP 400: scripted failure 400)", e.Message);
        e = Assert.Throws<CompactException>(() => Eval(Args(dir["c"], "x=http://127.0.0.1:1/v1#m")));
        Assert.Contains("start it, or fix the URL", e.Message);
        e = Assert.Throws<CompactException>(() => Eval(Args(dir["d"], $"x={server.BaseUrl}#m") with { ApiKeyEnv = "COMPACT_TEST_UNSET_KEY" }));
        Assert.Contains("--api-key-env COMPACT_TEST_UNSET_KEY: the environment variable is not set", e.Message);
        Assert.False(Directory.Exists(dir["d"]));                                   // refused before anything is written
        // Through the parser: the endpoint flags reach the handler (the key variable is checked before anything runs).
        var err = new StringWriter();
        Assert.Equal(1, Compact.Cli.CompactCli.Run(["eval", "--endpoint", "http://127.0.0.1:1/v1", "--served-model", "a,b", "--api-key-env", "COMPACT_TEST_UNSET_KEY",
            "--concurrency", "2", "--request-timeout", "5", "--max-retries", "1", "--bench", $"gsm8k={Gsm8kFile}", "--out", dir["d"]], TextWriter.Null, err));
        Assert.Contains("--api-key-env COMPACT_TEST_UNSET_KEY: the environment variable is not set", err.ToString());
        e = Assert.Throws<CompactException>(() => Eval(Args(dir["d"], "x=localhost:8000#m")));
        Assert.Contains("is not an http(s) URL", e.Message);
        e = Assert.Throws<CompactException>(() => Eval(Args(dir["d"], "http://localhost:8000/v1")));
        Assert.Contains("pass --served-model NAME", e.Message);
        e = Assert.Throws<CompactException>(() => Eval(Args(dir["d"], "x=http://localhost:8000/v1") with { ServedModels = ["a,b"] }));
        Assert.Contains("one NAME for 2 served models", e.Message);
    }

    [Fact]
    public void One_endpoint_with_several_served_models_gives_one_model_each()
    {
        var a = new EvalCommand.Args(null, null, [], [], "o")
        {
            Endpoints = ["http://h:8000/v1/", "merged=http://h:8001/v1#org/Student-7B"], ServedModels = ["base", "student"], Concurrency = 3,
        };
        var specs = EvalCommand.ParseEndpoints(a);
        Assert.Equal(["base", "student", "merged"], specs.Select(s => s.Name));
        Assert.Equal(["base", "student", "org/Student-7B"], specs.Select(s => s.ServedModel));
        Assert.Equal(["http://h:8000/v1", "http://h:8000/v1", "http://h:8001/v1"], specs.Select(s => s.BaseUrl));
        Assert.All(specs, s => Assert.Equal(3, s.Concurrency));
        // Without NAME=, a served name that is not a folder name is made one.
        Assert.Equal("org_Student-7B", EvalCommand.ParseEndpoints(a with { Endpoints = ["http://h/v1#org/Student-7B"], ServedModels = [] }).Single().Name);
    }

    [Fact]
    public async Task A_kill_minus_9_loses_only_the_questions_in_flight()
    {
        using var dir = new TestUtil.TempDir();
        bool open = false;
        // The first 4 questions are answered at once; the rest hang until the process is killed.
        await using var server = await new OpenAiTestServer((user, _) =>
            IndexOf(user) < 4 || open ? new Act.Answer(ScriptedAnswerer.GoldText(Items[IndexOf(user)])) : new Act.Stall()).StartAsync();
        var exe = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "compact.exe" : "compact");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var x in new[] { "eval", "--endpoint", $"s={server.BaseUrl}#m", "--bench", $"gsm8k={Gsm8kFile}", "--limit", "12", "--out", dir["out"],
                     "--concurrency", "2", "--max-new-tokens", "64" })
            psi.ArgumentList.Add(x);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var path = EvalRunner.PredictionsPath(dir["out"], "s", "gsm8k");
        var sw = Stopwatch.StartNew();
        while (!(File.Exists(path) && File.ReadAllLines(path).Length == 4 && server.Attempts.Count == 6) && sw.Elapsed < TimeSpan.FromSeconds(60))
            await Task.Delay(50);
        Assert.True(server.Attempts.Count == 6, p.HasExited ? await stdout + await stderr : $"{server.Attempts.Count} questions asked");   // 4 answered, 2 in flight
        p.Kill(entireProcessTree: true);                                             // SIGKILL: no cleanup runs
        await p.WaitForExitAsync();
        Assert.Equal(4, File.ReadAllLines(path).Length);

        open = true;
        var r = Eval(Args(dir["out"], $"s={server.BaseUrl}#m", concurrency: 2));
        Assert.True(r.Code == 0, r.Out);
        foreach (var (user, n) in server.Attempts)
            Assert.Equal(IndexOf(user) < 4 ? 1 : IndexOf(user) < 6 ? 2 : 1, n);      // the 4 finished ones never asked again
        var ids = Lines(path).Select(l => l["id"]!.GetValue<string>()).ToList();
        Assert.Equal(Items.Select(i => i.Id).Order(), ids.Order());
        Assert.Contains("4 answers from an earlier run", r.Out);
    }

    [Fact]
    public async Task A_tiny_model_gives_the_same_predictions_locally_and_behind_compact_serve()
    {
        using var dir = new TestUtil.TempDir();
        var modelDir = SftTests.TinyModel(dir);
        using var model = LoadedModel.Load(modelDir);
        await using var server = new OpenAiServer(new ModelBackend(model, "tiny"), new ServerOptions { Port = 0 });
        await server.StartAsync();
        var a = new EvalCommand.Args(null, null, [$"base={modelDir}"], [$"gsm8k={Gsm8kFile}"], dir["out"], Limit: 4, Seed: 2, MaxNewTokens: 12,
            BatchSize: 4, FewShot: 1)
        { Endpoints = [$"served={server.BaseAddress}v1#tiny"], Concurrency = 2, Retry = Fast };
        var r = Eval(a);
        Assert.True(r.Code == 0, r.Out);

        var local = Lines(EvalRunner.PredictionsPath(dir["out"], "base", "gsm8k")).ToDictionary(l => l["id"]!.GetValue<string>());
        var served = Lines(EvalRunner.PredictionsPath(dir["out"], "served", "gsm8k")).ToDictionary(l => l["id"]!.GetValue<string>());
        Assert.Equal(4, local.Count);
        Assert.Equal(local.Keys.Order(), served.Keys.Order());
        foreach (var (id, l) in local)
        {
            Assert.Equal(l["prediction"]!.GetValue<string>(), served[id]["prediction"]!.GetValue<string>());
            Assert.Equal(l["correct"]!.GetValue<bool>(), served[id]["correct"]!.GetValue<bool>());
            Assert.Equal(l["reason"]!.GetValue<string>(), served[id]["reason"]!.GetValue<string>());
        }
        Assert.Contains(local.Values, l => l["prediction"]!.GetValue<string>().Length > 0);   // the comparison is not of empty strings
        // One comparison table: the same answers, so no change and no spread.
        Assert.Equal("+0.0 ± 0.0", EvalReportRow(dir["out/results.csv"], "served")[^1]);
    }

    static string[] EvalReportRow(string csv, string model) => File.ReadAllLines(csv).Single(l => l.StartsWith(model + ",", StringComparison.Ordinal)).Split(',');

    // ---- pure pieces -------------------------------------------------------------------------------------

    [Theory]
    // step = min(Max 60, Base 1 · 2^attempt); wait = step/2 + u·step/2, at least Retry-After.
    [InlineData(0, 0.0, null, 0.5)]        // step 1: 0.5 + 0
    [InlineData(0, 0.999, null, 0.9995)]   // 0.5 + 0.4995
    [InlineData(3, 0.5, null, 6.0)]        // step 8: 4 + 2
    [InlineData(10, 0.5, null, 45.0)]      // step capped at 60: 30 + 15
    [InlineData(3, 0.5, 10.0, 10.0)]       // Retry-After 10 s over 6 s: 10
    [InlineData(3, 0.5, 2.0, 6.0)]         // Retry-After 2 s under 6 s: 6
    public void Backoff_doubles_with_jitter_and_never_undercuts_retry_after(int attempt, double u, double? retryAfter, double seconds) =>
        Assert.Equal(seconds, RetryPolicy.Default.Delay(attempt, retryAfter is { } s ? TimeSpan.FromSeconds(s) : null, u).TotalSeconds, 9);

    [Fact]
    public void Retry_after_reads_seconds_and_dates()
    {
        var now = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
        Assert.Equal(TimeSpan.FromSeconds(1.5), RetryPolicy.ParseRetryAfter("1.5", now));
        Assert.Equal(TimeSpan.FromSeconds(30), RetryPolicy.ParseRetryAfter("Mon, 30 Nov 2026 12:00:30 GMT", now));
        Assert.Equal(TimeSpan.Zero, RetryPolicy.ParseRetryAfter("Mon, 30 Nov 2026 11:00:00 GMT", now));
        Assert.Null(RetryPolicy.ParseRetryAfter("soon", now));
        Assert.Null(RetryPolicy.ParseRetryAfter(null, now));
    }

    [Theory]
    [InlineData("The answer is: 4", null, null, "The answer is: 4")]
    [InlineData("<think>\n2+2 is 5?\n</think>\n\nThe answer is: 4", null, "2+2 is 5?", "The answer is: 4")]
    [InlineData("2+2 is 4.\n</think>\nThe answer is: 4", null, "2+2 is 4.", "The answer is: 4")]      // template opened the block
    [InlineData("<think>\nstill thinking", null, "still thinking", "")]                               // cut off while thinking
    [InlineData("The answer is: 4", "server-side reasoning", "server-side reasoning", "The answer is: 4")]
    public void Reasoning_is_split_from_the_final_answer(string content, string? reasoning, string? thought, string final)
    {
        var (r, f) = new Reply(content, reasoning).Split();
        Assert.Equal(thought, r);
        Assert.Equal(final, f);
    }

    [Fact]
    public void Reasoning_cut_off_without_a_final_answer_is_wrong_with_the_fix()
    {
        var line = EvalRunner.Record(Items[0], new Reply("<think>The answer is: " + Items[0].Gold, FinishReason: "length"));
        Assert.False(line["correct"]!.GetValue<bool>());                            // the number in the reasoning does not count
        Assert.Contains("no final answer after the reasoning (it ran out of tokens; raise --max-new-tokens)", line["reason"]!.GetValue<string>());
    }
}
