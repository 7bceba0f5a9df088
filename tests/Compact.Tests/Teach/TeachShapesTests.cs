using System.Globalization;
using System.Text.Json.Nodes;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Distill;
using Compact.Teach;
using Compact.Util;

namespace Compact.Tests.Teach;

/// <summary>`teach` against servers answering the way vLLM, DeepSeek, Ollama and OpenAI do.</summary>
public class TeachShapesTests
{
    static readonly IReadOnlyList<BenchItem> Qs = Enumerable.Range(1, 4)
        .Select(i => new BenchItem($"q{i}", $"What is {i} plus {i}?", (2 * i).ToString(CultureInfo.InvariantCulture), AnswerKind.Numeric)).ToList();

    static int N(string user) => Qs.Select((q, i) => (q, i)).First(x => user.Contains(x.q.Question)).i + 1;
    static string Think(string user) => $"I need {N(user)} plus {N(user)}. Counting up gives {2 * N(user)}.";
    static string Answer(string user) => $"The answer is: {2 * N(user)}";

    static TeacherSpec Spec(string name, Uri url, int retries = 2) => new()
    {
        Name = name, BaseUrl = url.ToString().TrimEnd('/'), Model = name, Concurrency = 2, TimeoutSeconds = 10, MaxRetries = retries, Temperature = 0,
    };

    static Task<TeachSummary> Teach(IReadOnlyList<TeacherSpec> ts, string outPath, bool retryFailed = false, int budget = 1000, double maxDelay = 0.1) =>
        TeachRunner.RunAsync(Qs, ts, new TeachOptions
        {
            Out = outPath, RetryFailed = retryFailed, RetryBudget = budget, Backoff = new Backoff(TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(maxDelay)),
        }, ProgressHost.Silent, TextWriter.Null);

    static List<JsonObject> Raw(string path) => File.ReadAllLines(path).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();

    [Fact]
    public async Task Every_reply_shape_keeps_its_reasoning_gets_a_verdict_and_one_broken_teacher_blocks_nothing()
    {
        using var dir = new TestUtil.TempDir();
        bool downIsDown = true;
        var servers = new Dictionary<string, ShapedTeacher>
        {
            ["vllm-raw"] = new((u, _, _) => ShapedTeacher.InlineThink(Think(u), Answer(u))),
            ["vllm-parser"] = new((u, _, _) => ShapedTeacher.Reasoning("reasoning", Think(u), Answer(u))),
            ["deepseek"] = new((u, _, _) => ShapedTeacher.Reasoning("reasoning_content", Think(u), Answer(u))),
            ["streamed"] = new((u, _, b) => b["stream"]?.GetValue<bool>() == true ? ShapedTeacher.Stream(Think(u), Answer(u)) : ShapedTeacher.Error(400, "stream only")),
            ["answer-only"] = new((u, _, _) => ShapedTeacher.Reasoning("reasoning_content", Think(u), Answer(u))),
            ["refuser"] = new((_, _, _) => ShapedTeacher.Refusal("I can't help with that.")),
            ["tooler"] = new((_, _, _) => ShapedTeacher.ToolCall()),
            ["cut"] = new((u, _, _) => ShapedTeacher.Message(new JsonObject { ["role"] = "assistant", ["content"] = "<think>\n" + Think(u) }, finish: "length")),
            ["wrong"] = new((u, _, _) => ShapedTeacher.InlineThink("Guessing.", "The answer is: 99")),
            ["down"] = new((u, _, _) => downIsDown ? ShapedTeacher.Error(500, "boom") : ShapedTeacher.Reasoning("reasoning_content", Think(u), Answer(u))),
        };
        foreach (var s in servers.Values) await s.StartAsync();
        try
        {
            var teachers = servers.Select(kv => Spec(kv.Key, kv.Value.BaseUrl) with
            {
                ExtraBody = kv.Key == "streamed" ? new JsonObject { ["stream"] = true } : null,
                Rationale = kv.Key == "answer-only" ? RationaleSource.Content : RationaleSource.ReasoningAndContent,
            }).ToList();
            var s1 = await Teach(teachers, dir["d.jsonl"]);

            // Each (question, teacher) has exactly one verdict, the one its reply shape calls for.
            var raw = Raw(dir["d.jsonl.raw.jsonl"]);
            Assert.Equal(40, raw.Count);
            var expected = new Dictionary<string, string>
            {
                ["vllm-raw"] = "correct", ["vllm-parser"] = "correct", ["deepseek"] = "correct", ["streamed"] = "correct", ["answer-only"] = "correct",
                ["refuser"] = "refused", ["tooler"] = "refused", ["cut"] = "truncated", ["wrong"] = "wrong", ["down"] = "failed",
            };
            foreach (var r in raw) Assert.Equal(expected[r["teacher"]!.GetValue<string>()], r["verdict"]!.GetValue<string>());
            Assert.All(servers["down"].Requests.Values, n => Assert.Equal(3, n));           // 1 try + max_retries 2, then "failed"
            // The side file keeps the whole reply: DeepSeek's reasoning_content is there as the server sent it.
            var ds = raw.First(r => r["teacher"]!.GetValue<string>() == "deepseek" && r["id"]!.GetValue<string>() == "q2");
            Assert.Equal("I need 2 plus 2. Counting up gives 4.", ds["response"]!["choices"]![0]!["message"]!["reasoning_content"]!.GetValue<string>());
            Assert.Equal("I can't help with that.", raw.First(r => r["teacher"]!.GetValue<string>() == "refuser")["refusal"]!.GetValue<string>());

            // One failing teacher blocks nothing: every question has its line, and each rationale is reasoning + answer.
            Assert.Equal(4, s1.QuestionsWritten);
            Assert.Equal(4, s1.Teachers.Single(t => t.Teacher == "down").Failed);
            var (qs, _) = MultiTeacherData.Load(dir["d.jsonl"]);
            Assert.Equal(4, qs.Count);
            var q3 = qs.Single(q => q.Id == "q3");
            Assert.Equal(["vllm-raw", "vllm-parser", "deepseek", "streamed", "answer-only"], q3.Rationales.Select(r => r.Teacher));
            const string full = "I need 3 plus 3. Counting up gives 6.\n\nThe answer is: 6";
            foreach (var t in new[] { "vllm-raw", "vllm-parser", "deepseek", "streamed" })
                Assert.Equal(full, q3.Rationales.Single(r => r.Teacher == t).Text);
            Assert.Equal("The answer is: 6", q3.Rationales.Single(r => r.Teacher == "answer-only").Text);

            // A rerun asks for nothing: failures stay failures unless asked.
            var s2 = await Teach(teachers, dir["d.jsonl"]);
            Assert.Equal(0, s2.Requests);
            Assert.Equal(40, Raw(dir["d.jsonl.raw.jsonl"]).Count);
            // --retry-failed asks the broken teacher again, only for its failed items; now it answers.
            downIsDown = false;
            int before = servers.Values.Sum(s => s.Requests.Values.Sum());
            var s3 = await Teach(teachers, dir["d.jsonl"], retryFailed: true);
            Assert.Equal(4, s3.Requests);
            Assert.Equal(before + 4, servers.Values.Sum(s => s.Requests.Values.Sum()));
            var (qs3, _) = MultiTeacherData.Load(dir["d.jsonl"]);
            Assert.All(qs3, q => Assert.Equal(6, q.Rationales.Count));
            Assert.Equal(full, qs3.Single(q => q.Id == "q3").Rationales.Single(r => r.Teacher == "down").Text);
        }
        finally { foreach (var s in servers.Values) await s.DisposeAsync(); }
    }

    [Fact]
    public async Task Teacher_fields_shape_the_request_as_written_in_the_teachers_file()
    {
        using var dir = new TestUtil.TempDir();
        await using var srv = await new ShapedTeacher((u, _, _) => ShapedTeacher.Reasoning("reasoning", Think(u), Answer(u))).StartAsync();
        File.WriteAllText(dir["t.yaml"], $"""
            teachers:
              - name: o1
                base_url: {srv.BaseUrl}
                model: o1-mini
                temperature: null
                max_tokens: 300
                max_tokens_field: max_completion_tokens
                system: Think hard.
                stop: ["</answer>", "STOP"]
                extra_body:
                  reasoning_effort: low
                  top_k: 20
                  chat_template_kwargs:
                    enable_thinking: true
                  seed: "7"
            """);
        var t = Assert.Single(TeachersFile.Load(dir["t.yaml"]));
        Assert.Null(t.Temperature);
        await TeachRunner.RunAsync(Qs.Take(1).ToList(), [t], new TeachOptions { Out = dir["d.jsonl"] }, ProgressHost.Silent, TextWriter.Null);
        var body = Assert.Single(srv.Log).Body;
        // Expected request, written out by hand from the file above (extra_body merged last, so its quoted "7" replaces the seed).
        var expected = JsonNode.Parse("""
            {"model":"o1-mini",
             "messages":[{"role":"system","content":"Think hard."},{"role":"user","content":"PROMPT"}],
             "max_completion_tokens":300,"seed":"7","stop":["</answer>","STOP"],
             "reasoning_effort":"low","top_k":20,"chat_template_kwargs":{"enable_thinking":true}}
            """)!;
        expected["messages"]![1]!["content"] = t.Render(Qs[0]);
        Assert.True(JsonNode.DeepEquals(expected, body), body.ToJsonString());

        File.WriteAllText(dir["bad.yaml"], $"- name: a\n  base_url: {srv.BaseUrl}\n  model: m\n  max_tokens_field: max_new_tokens\n");
        Assert.Contains("\"max_tokens_field\" must be max_tokens or max_completion_tokens", Assert.Throws<CompactException>(() => TeachersFile.Load(dir["bad.yaml"])).Message);
        File.WriteAllText(dir["bad2.yaml"], $"- name: a\n  base_url: {srv.BaseUrl}\n  model: m\n  rationale: thoughts\n");
        Assert.Contains("\"rationale\" must be reasoning+content, content or reasoning", Assert.Throws<CompactException>(() => TeachersFile.Load(dir["bad2.yaml"])).Message);
    }

    [Fact]
    public void The_READMEs_teachers_yaml_loads_as_documented()
    {
        using var dir = new TestUtil.TempDir();
        var readme = File.ReadAllText(Path.Combine(TestUtil.RepoRoot(), "README.md"));
        int start = readme.IndexOf("```yaml\nteachers:", readme.IndexOf("`teachers.yaml`:", StringComparison.Ordinal), StringComparison.Ordinal) + "```yaml\n".Length;
        File.WriteAllText(dir["t.yaml"], readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)]);
        var ts = TeachersFile.Load(dir["t.yaml"]);
        Assert.Equal(["qwen72b", "r1", "o-mini", "llama70b"], ts.Select(t => t.Name));
        Assert.Equal(20, ts[1].ExtraBody!["top_k"]!.GetValue<long>());
        Assert.True(ts[1].ExtraBody!["chat_template_kwargs"]!["enable_thinking"]!.GetValue<bool>());
        Assert.Null(ts[2].Temperature);
        Assert.Equal("max_completion_tokens", ts[2].MaxTokensField);
        Assert.Equal(RationaleSource.Content, ts[3].Rationale);
        Assert.Equal(0.7, ts[3].Temperature);
    }

    [Fact]
    public async Task A_429_and_503_storm_with_Retry_After_ends_with_every_answer_waiting_at_least_Retry_After()
    {
        using var dir = new TestUtil.TempDir();
        // Every question is throttled twice (429 then 503, Retry-After: 0.15 s) before it is answered.
        await using var srv = await new ShapedTeacher((u, n, _) => n switch
        {
            1 => ShapedTeacher.Error(429, "rate limited", "0.15"),
            2 => ShapedTeacher.Error(503, "overloaded", "0.15"),
            _ => ShapedTeacher.Reasoning("reasoning_content", Think(u), Answer(u)),
        }).StartAsync();
        var s = await Teach([Spec("t", srv.BaseUrl, retries: 3) with { Concurrency = 4 }], dir["d.jsonl"], maxDelay: 1);
        Assert.Equal(4, s.Teachers[0].Correct);
        Assert.Equal(8, s.RetriesUsed);
        Assert.All(srv.Requests.Values, n => Assert.Equal(3, n));                   // nothing asked again after its answer
        foreach (var g in srv.Log.GroupBy(x => x.User))
        {
            var at = g.OrderBy(x => x.Attempt).Select(x => x.At).ToList();
            // Retry-After (0.15 s) is the floor; our own backoff (5 ms·2^k) is smaller here, jitter adds < 5 ms.
            Assert.All(at.Zip(at.Skip(1)), p => Assert.True((p.Second - p.First).TotalSeconds >= 0.14, $"retried after {(p.Second - p.First).TotalSeconds:0.000} s"));
        }
    }

    [Fact]
    public async Task The_runs_retry_budget_stops_retrying_and_says_so()
    {
        using var dir = new TestUtil.TempDir();
        await using var srv = await new ShapedTeacher((_, _, _) => ShapedTeacher.Error(503, "down", "0")).StartAsync();
        var s = await Teach([Spec("t", srv.BaseUrl, retries: 10) with { Concurrency = 1 }], dir["d.jsonl"], budget: 3);
        Assert.Equal(4, s.Teachers[0].Failed);
        Assert.Equal(4 + 3, srv.Requests.Values.Sum());                              // 4 first tries + the 3 retries of the budget
        var raw = Raw(dir["d.jsonl.raw.jsonl"]);
        // The item that spent the last retry, and the three after it, each fail once the budget is gone.
        Assert.Equal(4, raw.Count(r => r["error"]!.GetValue<string>().Contains("retry budget of 3 is spent")));
    }

    [Theory]
    // (content, reasoning field) → (reasoning, answer), by reading the strings.
    [InlineData("<think>a b</think>The answer is: 2", null, "a b", "The answer is: 2")]
    [InlineData("a b</think>\nThe answer is: 2", null, "a b", "The answer is: 2")]          // template opened <think> in the prompt
    [InlineData("<think>a b", null, "a b", "")]                                             // cut inside the thinking
    [InlineData("The answer is: 2", "a b", "a b", "The answer is: 2")]
    [InlineData("The answer is: 2", null, "", "The answer is: 2")]
    public void Reasoning_and_answer_are_split_from_every_shape(string content, string? reasoning, string think, string answer)
    {
        var r = new TeacherReply(content, reasoning, null, false, "stop", 0, 0, new JsonObject());
        Assert.Equal(think, r.AllReasoning);
        Assert.Equal(answer, r.Answer);
    }

    [Fact]
    public void Jsonl_output_is_readable_utf8()
    {
        using var dir = new TestUtil.TempDir();
        using (var w = new JsonlWriter(dir["x.jsonl"])) w.Write(new JsonObject { ["q"] = "café: 2+3 <think> \"x\"\n" });
        // Byte for byte: only the quote and the newline are escaped, as JSON requires.
        Assert.Equal("{\"q\":\"café: 2+3 <think> \\\"x\\\"\\n\"}\n", File.ReadAllText(dir["x.jsonl"]));
    }
}

public class DataCheckTests
{
    [Fact]
    public void Data_check_reports_questions_under_min_rationales_and_the_filter_keeps_the_rest()
    {
        using var dir = new TestUtil.TempDir();
        // q1 has 3 rationales, q2 has 1, q3 has 2.
        File.WriteAllText(dir["d.jsonl"], """
            {"id":"q1","question":"1+1?","answer":"2","rationales":[{"teacher":"a","text":"The answer is: 2"},{"teacher":"b","text":"The answer is: 2"},{"teacher":"c","text":"The answer is: 2"}]}
            {"id":"q2","question":"2+2?","answer":"4","rationales":[{"teacher":"a","text":"The answer is: 4"}]}
            {"id":"q3","question":"3+3?","answer":"6","rationales":[{"teacher":"b","text":"The answer is: 6"},{"teacher":"c","text":"The answer is: 6"}]}
            """);
        var w = new StringWriter();
        Assert.Equal(0, Compact.Cli.Commands.DataCommand.Check(dir["d.jsonl"], null, w, minRationales: 3));
        Assert.Contains("2 of 3 questions have fewer than 3 rationales: q2 (1), q3 (2); 1 questions remain with --min-rationales 3.", w.ToString());
        w = new StringWriter();
        Compact.Cli.Commands.DataCommand.Check(dir["d.jsonl"], null, w);
        Assert.Contains("1 of 3 questions have fewer than 2 rationales: q2 (1); 2 questions remain", w.ToString());
        var (qs, _) = MultiTeacherData.Load(dir["d.jsonl"]);
        Assert.Equal(["q1", "q3"], Rationales.AtLeast(qs, Rationales.DefaultMin("compact"), out var dropped).Select(q => q.Id));
        Assert.Equal(1, dropped);
        Assert.Equal(3, Rationales.AtLeast(qs, Rationales.DefaultMin("single"), out _).Count);
        Assert.Contains("--min-rationales must be 1 or more", Assert.Throws<CompactException>(() => Compact.Cli.Commands.DataCommand.Check(dir["d.jsonl"], null, w, minRationales: 0)).Message);
    }
}
