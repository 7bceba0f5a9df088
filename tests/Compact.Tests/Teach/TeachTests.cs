using System.Globalization;
using System.Text.Json.Nodes;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Distill;
using Compact.Generation;
using Compact.Serving;
using Compact.Teach;
using Compact.Tests.Serving;
using Compact.Tests.Training;
using Compact.Util;

namespace Compact.Tests.Teach;

public class TeachTests
{
    static readonly IReadOnlyList<BenchItem> Questions = Enumerable.Range(1, 12)
        .Select(i => new BenchItem($"q{i}", $"What is {i} plus {i}?", (2 * i).ToString(CultureInfo.InvariantCulture), AnswerKind.Numeric)).ToList();

    static string Gold(string prompt)
    {
        var q = Questions.First(x => prompt.Contains(x.Question));
        return $"Add {q.Question.Split(' ')[2]} to itself. The answer is: {q.Gold}";
    }

    static TeacherSpec Spec(string name, Uri url, int concurrency = 3, double timeout = 10, int retries = 4) =>
        new() { Name = name, BaseUrl = url.ToString().TrimEnd('/'), Model = name, Concurrency = concurrency, TimeoutSeconds = timeout, MaxRetries = retries, Temperature = 0 };

    static Task<TeachSummary> Teach(IReadOnlyList<TeacherSpec> ts, string outPath, CancellationToken ct = default, bool retryFailed = false) =>
        TeachRunner.RunAsync(Questions, ts, new TeachOptions { Out = outPath, RetryFailed = retryFailed, Backoff = new Backoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(200)) },
            ProgressHost.Silent, TextWriter.Null, ct);

    [Fact]
    public async Task An_existing_dataset_the_raw_file_does_not_account_for_is_refused_not_replaced()
    {
        using var dir = new TestUtil.TempDir();
        var ds = dir["ds.jsonl"];
        var lines = Enumerable.Range(1, 3).Select(i => new JsonObject
        {
            ["id"] = $"old{i}", ["question"] = "q", ["answer"] = "1",
            ["rationales"] = new JsonArray(new JsonObject { ["teacher"] = "a", ["text"] = "1" }),
        }.ToJsonString()).ToArray();
        File.WriteAllLines(ds, lines);                                    // a dataset whose raw side file is gone
        var ex = await Assert.ThrowsAsync<CompactException>(() => Teach([Spec("a", new Uri("http://127.0.0.1:9"))], ds));
        Assert.Contains("--overwrite", ex.Message);
        Assert.Contains(ds, ex.Message);
        Assert.Equal(lines, File.ReadAllLines(ds));                        // untouched
    }

    static Dictionary<string, string> Dataset(string path) =>
        File.ReadAllLines(path).Select(l => JsonNode.Parse(l)!).ToDictionary(o => o["id"]!.GetValue<string>(), o => o.ToJsonString());

    [Fact]
    public async Task Collects_checks_and_keeps_only_correct_rationales_from_served_teachers()
    {
        using var dir = new TestUtil.TempDir();
        using var tiny = LoadedModel.Load(SftTests.TinyModel(dir));
        await using var student = new OpenAiServer(new ModelBackend(tiny, "tiny"), new ServerOptions { Port = 0 });
        await using var good = new OpenAiServer(new ScriptedBackend("good", Gold), new ServerOptions { Port = 0 });
        // Fails once with 500, is throttled once (Retry-After), then answers; odd questions get garbage instead.
        await using var flaky = await new FaultyTeacher((q, n) => n switch
        {
            1 => FaultyTeacher.Act.Fail500,
            2 => FaultyTeacher.Act.Throttle429,
            _ => q.Contains(" 3 ") || q.Contains(" 5 ") ? FaultyTeacher.Act.Garbage : FaultyTeacher.Act.Answer,
        }, Gold).StartAsync();
        await student.StartAsync();
        await good.StartAsync();
        var teachers = new[] { Spec("tiny", new Uri(student.BaseAddress, "v1")) with { MaxTokens = 8 }, Spec("good", new Uri(good.BaseAddress, "v1")), Spec("flaky", flaky.BaseUrl) };
        var s = await Teach(teachers, dir["data.jsonl"]);

        Assert.Equal(36, s.Requests);
        Assert.All(s.Teachers, t => Assert.Equal(0, t.Failed));
        Assert.Equal(12, s.Teachers.Single(t => t.Teacher == "good").Correct);
        Assert.Equal(10, s.Teachers.Single(t => t.Teacher == "flaky").Correct);
        Assert.Equal(0, s.Teachers.Single(t => t.Teacher == "tiny").Correct);        // a random tiny model is never right
        var (qs, _) = MultiTeacherData.Load(dir["data.jsonl"]);
        Assert.Equal(12, qs.Count);
        foreach (var q in qs)
        {
            Assert.Contains(q.Rationales, r => r.Teacher == "good");
            Assert.DoesNotContain(q.Rationales, r => r.Teacher == "tiny");
            Assert.Equal(q.Id is "q3" or "q5" ? 1 : 2, q.Rationales.Count);
            Assert.All(q.Rationales, r => Assert.True(AnswerCheck.IsValidRationale(AnswerKind.Numeric, q.Answer, r.Text)));
        }
        // Every response, right or wrong, is in the side file with its verdict.
        var raw = File.ReadAllLines(dir["data.jsonl.raw.jsonl"]).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(36, raw.Count);
        Assert.Equal(12, raw.Count(r => r["teacher"]!.GetValue<string>() == "tiny" && !r["correct"]!.GetValue<bool>()));
        Assert.All(raw.Where(r => r["teacher"]!.GetValue<string>() == "flaky"), r => Assert.Equal(3, r["attempts"]!.GetValue<int>()));
    }

    [Fact]
    public async Task A_run_killed_midway_and_restarted_ends_with_the_same_dataset_without_asking_twice()
    {
        using var dir = new TestUtil.TempDir();
        await using var a = await new FaultyTeacher((_, _) => FaultyTeacher.Act.Answer, Gold).StartAsync();
        await using var b = await new FaultyTeacher((q, _) => q.Contains(" 7 ") ? FaultyTeacher.Act.Garbage : FaultyTeacher.Act.Answer, Gold).StartAsync();
        var teachers = new[] { Spec("a", a.BaseUrl, concurrency: 1), Spec("b", b.BaseUrl, concurrency: 1) };
        await Teach(teachers, dir["full.jsonl"]);

        // The second pass is cut off while the later questions hang (as if the servers were slow), so the interruption
        // always lands mid-run; the same servers answer everything on the rerun.
        bool hang = true;
        bool Late(string q) => Questions.Skip(6).Any(x => q.Contains(x.Question));
        await using var a2 = await new FaultyTeacher((q, _) => hang && Late(q) ? FaultyTeacher.Act.Stall : FaultyTeacher.Act.Answer, Gold).StartAsync();
        await using var b2 = await new FaultyTeacher((q, _) => hang && Late(q) ? FaultyTeacher.Act.Stall
            : q.Contains(" 7 ") ? FaultyTeacher.Act.Garbage : FaultyTeacher.Act.Answer, Gold).StartAsync();
        var t2 = new[] { Spec("a", a2.BaseUrl, concurrency: 1), Spec("b", b2.BaseUrl, concurrency: 1) };
        using (var cts = new CancellationTokenSource())
        {
            var run = Teach(t2, dir["split.jsonl"], cts.Token);
            while (a2.Answered.Count + b2.Answered.Count < 9) await Task.Delay(5);
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        }
        hang = false;
        // A crash in the middle of a write leaves half a line: the rerun repairs it.
        File.AppendAllText(dir["split.jsonl.raw.jsonl"], "{\"id\":\"q1\",\"teach");
        int before = a2.Answered.Sum(x => x.Value) + b2.Answered.Sum(x => x.Value);
        var s = await Teach(t2, dir["split.jsonl"]);
        Assert.True(s.Skipped >= 8, $"skipped {s.Skipped}");
        Assert.All(a2.Answered.Values.Concat(b2.Answered.Values), n => Assert.True(n <= 2));
        // No finished item was asked for again: answers on record + answers given now = one per item (or two for the item cut mid-write).
        Assert.InRange(a2.Answered.Sum(x => x.Value) + b2.Answered.Sum(x => x.Value) - before + s.Skipped, 24, 25);
        Assert.Equal(Dataset(dir["full.jsonl"]), Dataset(dir["split.jsonl"]));
        Assert.Equal(24, File.ReadAllLines(dir["split.jsonl.raw.jsonl"]).Select(l => JsonNode.Parse(l)!)
            .Select(r => (r["id"]!.GetValue<string>(), r["teacher"]!.GetValue<string>())).Distinct().Count());
    }

    [Fact]
    public async Task A_failing_or_stalling_teacher_does_not_stop_the_others_and_its_items_are_retried_on_the_next_run()
    {
        using var dir = new TestUtil.TempDir();
        await using var ok = await new FaultyTeacher((_, _) => FaultyTeacher.Act.Answer, Gold).StartAsync();
        await using var down = await new FaultyTeacher((_, _) => FaultyTeacher.Act.Fail500, Gold).StartAsync();
        await using var stall = await new FaultyTeacher((q, _) => q.Contains(" 2 ") ? FaultyTeacher.Act.Stall : FaultyTeacher.Act.NotJson, Gold).StartAsync();
        var teachers = new[] { Spec("ok", ok.BaseUrl), Spec("down", down.BaseUrl, retries: 2), Spec("stall", stall.BaseUrl, timeout: 0.3, retries: 1) };
        var s = await Teach(teachers, dir["d.jsonl"]);
        Assert.Equal(12, s.Teachers.Single(t => t.Teacher == "ok").Correct);
        Assert.Equal(12, s.Teachers.Single(t => t.Teacher == "down").Failed);
        Assert.Equal(12, s.Teachers.Single(t => t.Teacher == "stall").Failed);
        Assert.All(down.Requests.Values, n => Assert.Equal(3, n));               // 1 try + 2 retries
        var raw = File.ReadAllLines(dir["d.jsonl.raw.jsonl"]).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Contains(raw, r => r["error"]?.GetValue<string>().Contains("timed out") == true);
        Assert.Contains(raw, r => r["error"]?.GetValue<string>().Contains("HTTP 500") == true);
        // Failed is a verdict: every question has its line with the rationales it has, and a rerun with --retry-failed asks
        // only for the failed items.
        Assert.All(MultiTeacherData.Load(dir["d.jsonl"]).Questions, q => Assert.Equal(["ok"], q.Rationales.Select(r => r.Teacher)));
        Assert.Equal(0, (await Teach([teachers[0], teachers[1]], dir["d.jsonl"])).Requests);
        var s2 = await Teach([teachers[0], teachers[1] with { BaseUrl = ok.BaseUrl.ToString().TrimEnd('/') }], dir["d.jsonl"], retryFailed: true);
        Assert.Equal(12, s2.Requests);
        Assert.All(MultiTeacherData.Load(dir["d.jsonl"]).Questions, q => Assert.Equal(["ok", "down"], q.Rationales.Select(r => r.Teacher)));
        Assert.All(ok.Answered.Values, n => Assert.Equal(2, n));                   // once as "ok", once standing in for "down"
    }

    [Theory]
    // max(Retry-After capped at the maximum, min(max, base·2^attempt)) plus jitter in [0, base); base 1 s, max 60 s.
    [InlineData(0, 3.0, 3.0, 4.0)]
    [InlineData(0, 100.0, 60.0, 61.0)]
    [InlineData(3, 1.0, 8.0, 9.0)]                 // Retry-After is a floor, not the whole delay
    [InlineData(0, 0.0, 1.0, 2.0)]
    [InlineData(0, null, 1.0, 2.0)]
    [InlineData(3, null, 8.0, 9.0)]
    [InlineData(10, null, 60.0, 61.0)]
    public void Backoff_delays(int attempt, double? retryAfter, double min, double max)
    {
        var d = Backoff.Default.Delay(attempt, retryAfter is { } r ? TimeSpan.FromSeconds(r) : null, new Random(1)).TotalSeconds;
        Assert.InRange(d, min, max);
    }

    [Fact]
    public void Retry_after_parses_seconds_and_http_dates_and_only_transient_statuses_retry()
    {
        var now = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
        Assert.Equal(TimeSpan.FromSeconds(2.5), Backoff.ParseRetryAfter("2.5", now));
        Assert.Equal(TimeSpan.FromSeconds(30), Backoff.ParseRetryAfter("Mon, 23 Nov 2026 12:00:30 GMT", now));
        Assert.Null(Backoff.ParseRetryAfter("soon", now));
        Assert.True(Backoff.Retryable(429) && Backoff.Retryable(503) && Backoff.Retryable(0));
        Assert.False(Backoff.Retryable(400) || Backoff.Retryable(401) || Backoff.Retryable(404));
    }

    [Fact]
    public void Teachers_file_errors_name_the_teacher_and_the_fix()
    {
        using var dir = new TestUtil.TempDir();
        File.WriteAllText(dir["t.yaml"], "teachers:\n  - name: a\n    base_url: http://localhost:8000/v1\n    model: m\n    temprature: 0.5\n");
        var e = Assert.Throws<CompactException>(() => TeachersFile.Load(dir["t.yaml"]));
        Assert.Contains("teacher 1 (a): unknown key 'temprature'", e.Message);
        File.WriteAllText(dir["t2.yaml"], "- name: a\n  base_url: localhost\n  model: m\n");
        Assert.Contains("not an http(s) URL", Assert.Throws<CompactException>(() => TeachersFile.Load(dir["t2.yaml"])).Message);
        File.WriteAllText(dir["t3.json"], """[{"name":"a","base_url":"http://x/v1","model":"m","samples":2,"concurrency":8,"timeout_s":5}]""");
        var t = Assert.Single(TeachersFile.Load(dir["t3.json"]));
        Assert.Equal((2, 8, 5.0), (t.Samples, t.Concurrency, t.TimeoutSeconds));
    }
}
