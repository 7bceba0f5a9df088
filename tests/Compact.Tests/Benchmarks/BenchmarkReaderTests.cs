using Compact.Answers;
using Compact.Benchmarks;

namespace Compact.Tests.Benchmarks;

public class BenchmarkReaderTests
{
    // ---- the real files ----

    [Fact]
    public void Gsm8k_file()
    {
        var items = BenchmarkFiles.Gsm8k;
        Assert.Equal(1319, items.Count);
        var first = items[0];
        Assert.Equal("gsm8k/0", first.Id);
        Assert.StartsWith("Janet\u2019s ducks lay 16 eggs per day.", first.Question);
        Assert.Equal("18", first.Gold);
        Assert.Equal(AnswerKind.Numeric, first.Kind);
        Assert.EndsWith("#### 18", first.GoldSolution);
        Assert.Null(first.Choices);
        Assert.Equal("70000", items[2].Gold);    // "#### 70000"
        Assert.Equal("2125", items[146].Gold);   // "#### 2,125": thousands separator dropped
        Assert.All(items, it => Assert.DoesNotContain(",", it.Gold));
    }

    [Fact]
    public void Svamp_file()
    {
        var items = BenchmarkFiles.Svamp;
        Assert.Equal(1000, items.Count);
        Assert.Equal(new BenchItem("chal-1",
            "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack How much do you have to pay to buy each pack?",
            "51", AnswerKind.Numeric, Subject: "Subtraction", GoldSolution: "( 76.0 - 25.0 )"), items[0]);
        Assert.Equal("chal-1000", items[^1].Id);
        Assert.Equal("11", items[^1].Gold);                 // 11.0
        Assert.All(items, it => Assert.DoesNotContain(".", it.Gold));  // every SVAMP answer is a whole number
    }

    [Fact]
    public void Math500_file()
    {
        var items = BenchmarkFiles.Math500;
        Assert.Equal(500, items.Count);
        var first = items[0];
        Assert.Equal("math500/0", first.Id);   // this copy has no unique_id
        Assert.Equal("\\left( 3, \\frac{\\pi}{2} \\right)", first.Gold);
        Assert.Equal(AnswerKind.Math, first.Kind);
        Assert.Equal("Precalculus", first.Subject);
        Assert.Equal("2", first.Level);
        Assert.StartsWith("Convert the point $(0,3)$", first.Question);
        Assert.Equal(new[] { "1", "2", "3", "4", "5" }, items.Select(i => i.Level!).Distinct().Order());
    }

    [Theory]
    [InlineData("gsm8k_test.jsonl", "gsm8k")]
    [InlineData("svamp.json", "svamp")]
    [InlineData("math500_test.jsonl", "math500")]
    public void Auto_detects_the_real_files(string file, string expected)
    {
        Assert.Equal(expected, BenchmarkLoader.Detect(BenchmarkFiles.PathOf(file)));
        Assert.Equal(BenchmarkLoader.Load(expected, BenchmarkFiles.PathOf(file)).Count, BenchmarkLoader.Load("auto", BenchmarkFiles.PathOf(file)).Count);
    }

    // ---- CommonsenseQA ----

    private const string CsqaOfficial = """
        {"answerKey": "A", "id": "075e483d21c29a511267ef62bedc0461", "question": {"question_concept": "punishing", "choices": [{"label": "A", "text": "ignore"}, {"label": "B", "text": "enforce"}, {"label": "C", "text": "authoritarian"}, {"label": "D", "text": "yell at"}, {"label": "E", "text": "avoid"}], "stem": "The sanctions against the school were a punishing blow, and they seemed to what the efforts the school had made to change?"}}
        {"answerKey": "B", "id": "61fe6e879ff18686d7552425a36344c8", "question": {"question_concept": "revolving door", "choices": [{"label": "A", "text": "bank"}, {"label": "B", "text": "library"}, {"label": "C", "text": "department store"}, {"label": "D", "text": "mall"}, {"label": "E", "text": "new york"}], "stem": "Sammy wanted to go to where the people were.  Where might he go?"}}
        """;

    [Fact]
    public void Csqa_official_form()
    {
        var items = CsqaReader.Parse(CsqaOfficial);
        Assert.Equal(2, items.Count);
        Assert.Equal("075e483d21c29a511267ef62bedc0461", items[0].Id);
        Assert.StartsWith("The sanctions against the school", items[0].Question);
        Assert.Equal("A", items[0].Gold);
        Assert.Equal(AnswerKind.Choice, items[0].Kind);
        Assert.Equal(new[] { "ignore", "enforce", "authoritarian", "yell at", "avoid" }, items[0].Choices!);
        Assert.Equal("punishing", items[0].Subject);
        Assert.Equal("B", items[1].Gold);
    }

    [Fact]
    public void Csqa_hugging_face_form()
    {
        const string hf = """{"id": "x1", "question": "Where might he go?", "question_concept": "people", "choices": {"label": ["A", "B", "C"], "text": ["bank", "library", "mall"]}, "answerKey": "C"}""";
        var item = Assert.Single(CsqaReader.Parse(hf));
        Assert.Equal(new BenchItem("x1", "Where might he go?", "C", AnswerKind.Choice, item.Choices, Subject: "people"), item);
        Assert.Equal(new[] { "bank", "library", "mall" }, item.Choices!);
    }

    [Theory]
    [InlineData("""{"question": "q", "choices": ["bank", "library", "mall"], "answer": "B"}""", "B")]
    [InlineData("""{"question": "q", "choices": ["bank", "library", "mall"], "answer": "(c)"}""", "C")]
    [InlineData("""{"question": "q", "choices": ["bank", "library", "mall"], "answer": "library"}""", "B")]
    [InlineData("""{"question": "q", "choices": ["bank", "library", "mall"], "answer": 0}""", "A")]    // 0-based index
    [InlineData("""{"question": "q", "choices": [{"label": "1", "text": "bank"}, {"label": "2", "text": "mall"}], "answerKey": "2"}""", "B")]
    public void Csqa_flat_form(string line, string gold)
    {
        var item = Assert.Single(CsqaReader.Parse(line));
        Assert.Equal(gold, item.Gold);
        Assert.Equal("csqa/0", item.Id);
    }

    [Theory]
    [InlineData("""{"id": "t", "question": {"stem": "q", "choices": [{"label": "A", "text": "x"}, {"label": "B", "text": "y"}]}, "answerKey": ""}""", "is empty (the CommonsenseQA test split is unlabelled)")]
    [InlineData("""{"question": "q", "choices": ["x", "y"], "answer": "Z"}""", "which is no option's label, letter or text")]
    [InlineData("""{"question": "q", "choices": ["x", "y"], "answer": 2}""", "not an option index 0..1")]
    [InlineData("""{"question": "q", "choices": ["x"], "answer": "A"}""", "only 1 choice(s)")]
    [InlineData("""{"question": "q", "choices": ["x", "y"]}""", "no gold answer")]
    [InlineData("""{"stem": "q"}""", "missing \"question\" field")]
    public void Csqa_errors_name_the_line(string line, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => CsqaReader.Parse("\n" + line, "dev.jsonl"));
        Assert.StartsWith("dev.jsonl:2: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    // ---- StrategyQA ----

    [Fact]
    public void Strategyqa_json_array_with_booleans()
    {
        const string json = """
            [
              {"qid": "b8677742616fef051f00", "term": "Genghis Khan", "question": "Are more people today related to Genghis Khan than Julius Caesar?", "answer": true,
               "facts": ["Julius Caesar had three children.", "Genghis Khan had sixteen children."]},
              {"qid": "4668264df84fb7c25b39", "question": "Could the members of The Police perform lawful arrests?", "answer": false}
            ]
            """;
        var items = StrategyQaReader.Parse(json);
        Assert.Equal(2, items.Count);
        Assert.Equal(new BenchItem("b8677742616fef051f00", "Are more people today related to Genghis Khan than Julius Caesar?", "yes",
            AnswerKind.YesNo, GoldSolution: "Julius Caesar had three children. Genghis Khan had sixteen children."), items[0]);
        Assert.Equal("no", items[1].Gold);
        Assert.Null(items[1].GoldSolution);
    }

    [Theory]
    [InlineData("""{"question": "q", "answer": "Yes"}""", "yes")]
    [InlineData("""{"question": "q", "answer": "false"}""", "no")]
    [InlineData("""{"question": "q", "answer": true}""", "yes")]
    public void Strategyqa_jsonl(string line, string gold)
    {
        var item = Assert.Single(StrategyQaReader.Parse(line));
        Assert.Equal(gold, item.Gold);
        Assert.Equal("strategyqa/0", item.Id);
    }

    [Fact]
    public void Strategyqa_error_in_an_array_names_the_item_line()
    {
        const string json = "[\n  {\"question\": \"a\", \"answer\": true},\n  {\"question\": \"b\",\n   \"answer\": \"maybe\"}\n]";
        var e = Assert.Throws<InvalidDataException>(() => StrategyQaReader.Parse(json, "sqa.json"));
        Assert.Equal("sqa.json:3: \"answer\" is \"maybe\", not a boolean; use true/false (or \"yes\"/\"no\").", e.Message);
    }

    // ---- GPQA ----

    private static string GpqaRow(string id, string correct) =>
        $$"""{"Record ID": "{{id}}", "Question": "Which one? ", "Correct Answer": " {{correct}}\n", "Incorrect Answer 1": "w1", "Incorrect Answer 2": "w2", "Incorrect Answer 3": "w3", "Subdomain": "Physics (general)"}""";

    [Fact]
    public void Gpqa_columns_are_shuffled_by_id_and_the_gold_follows_the_correct_answer()
    {
        var lines = Enumerable.Range(0, 40).Select(i => GpqaRow($"rec{i}", $"right{i}"));
        var items = GpqaReader.Parse(string.Join("\n", lines));
        Assert.Equal(40, items.Count);
        foreach (var (it, i) in items.Select((it, i) => (it, i)))
        {
            Assert.Equal($"rec{i}", it.Id);
            Assert.Equal("Which one?", it.Question);
            Assert.Equal(4, it.Choices!.Count);
            Assert.Equal($"right{i}", it.Choices[it.Gold[0] - 'A']);   // trimmed, and where the gold letter says
            Assert.Equal(new[] { "w1", "w2", "w3", $"right{i}" }.Order(), it.Choices.Order());
            Assert.Equal("Physics (general)", it.Subject);
        }
        // 40 items over 4 letters: each letter should turn up (P(a letter never appears) = 4·(3/4)^40 ≈ 4e-5).
        Assert.Equal(new[] { "A", "B", "C", "D" }, items.Select(i => i.Gold).Distinct().Order());
        // Same id, same order, on every run.
        var again = GpqaReader.Parse(string.Join("\n", lines));
        Assert.Equal(items.Select(i => i.Gold + string.Join("|", i.Choices!)), again.Select(i => i.Gold + string.Join("|", i.Choices!)));
    }

    [Fact]
    public void Gpqa_shuffle_is_pinned()
    {
        // FNV-1a 64 of "" is the offset basis; of "a" it is 0xaf63dc4c8601ec8c (published test vectors).
        Assert.Equal(0xcbf29ce484222325UL, GpqaReader.ShuffleSeed(""));
        Assert.Equal(0xaf63dc4c8601ec8cUL, GpqaReader.ShuffleSeed("a"));
        var p = GpqaReader.Permutation(4, GpqaReader.ShuffleSeed("rec0"));
        Assert.Equal(new[] { 0, 1, 2, 3 }, p.Order());
        Assert.Equal(p, GpqaReader.Permutation(4, GpqaReader.ShuffleSeed("rec0")));
        Assert.Equal(new[] { 0 }, GpqaReader.Permutation(1, 42));
    }

    [Theory]
    [InlineData("""{"question": "q", "choices": ["a1", "a2", "a3", "a4"], "answer": "C"}""", "C")]
    [InlineData("""{"question": "q", "choices": ["a1", "a2", "a3", "a4"], "answer": "a4"}""", "D")]
    [InlineData("""{"question": "q", "choices": ["a1", "a2", "a3", "a4"], "answer": 1}""", "B")]
    public void Gpqa_list_form_keeps_the_order(string line, string gold)
    {
        var item = Assert.Single(GpqaReader.Parse(line));
        Assert.Equal(gold, item.Gold);
        Assert.Equal(new[] { "a1", "a2", "a3", "a4" }, item.Choices!);
    }

    [Fact]
    public void Gpqa_missing_incorrect_answer_is_an_error()
    {
        var e = Assert.Throws<InvalidDataException>(() => GpqaReader.Parse("""{"Question": "q", "Correct Answer": "a", "Incorrect Answer 1": "b", "Incorrect Answer 2": "c"}""", "gpqa.jsonl"));
        Assert.StartsWith("gpqa.jsonl:1: missing \"Incorrect Answer 3\" field;", e.Message);
    }

    // ---- format errors with line numbers ----

    [Fact]
    public void Malformed_jsonl_line_is_reported_with_its_number()
    {
        const string text = "{\"question\": \"a\", \"answer\": \"x\\n#### 1\"}\n\n{\"question\": \"b\", \"answer\": \n";
        var e = Assert.Throws<InvalidDataException>(() => Gsm8kReader.Parse(text, "test.jsonl"));
        Assert.StartsWith("test.jsonl:3: malformed JSON (", e.Message);
        Assert.EndsWith("); fix or remove that line.", e.Message);
    }

    [Theory]
    [InlineData("{\"question\": \"a\"}", "test.jsonl:1: missing \"answer\" field; each GSM8K line needs {\"question\", \"answer\"}.")]
    [InlineData("{\"question\": \"a\", \"answer\": \"3 + 4 = 7\"}", "test.jsonl:1: the \"answer\" has no \"#### N\" line; GSM8K solutions end with a line \"#### <number>\".")]
    [InlineData("{\"question\": \"a\", \"answer\": \"#### seven\"}", "test.jsonl:1: the answer after \"####\" is \"seven\", not a number; write the number alone after ####.")]
    [InlineData("[1, 2]", "test.jsonl:1: array item 0 is not a JSON object; the array must hold objects only.")]
    [InlineData("\"text\"", "test.jsonl:1: expected a JSON object, found a string; each line must be one object.")]
    [InlineData("  \n ", "test.jsonl: the file is empty; expected JSON Lines or a JSON array of objects.")]
    public void Gsm8k_errors(string text, string message)
        => Assert.Equal(message, Assert.Throws<InvalidDataException>(() => Gsm8kReader.Parse(text, "test.jsonl")).Message);

    [Fact]
    public void Svamp_bad_answer_names_the_array_item_line()
    {
        const string json = "[\n {\"ID\": \"a\", \"Body\": \"b\", \"Question\": \"q\", \"Answer\": 2.50},\n {\"ID\": \"c\", \"Body\": \"b\", \"Question\": \"q\",\n  \"Answer\": \"many\"}\n]";
        var e = Assert.Throws<InvalidDataException>(() => SvampReader.Parse(json, "svamp.json"));
        Assert.Equal("svamp.json:3: \"Answer\" is \"many\", not a number; SVAMP answers are numbers such as 51.0.", e.Message);
        Assert.Equal("2.5", SvampReader.Parse(json[..json.IndexOf(",\n {\"ID\": \"c\"", StringComparison.Ordinal)] + "]")[0].Gold);
    }

    [Fact]
    public void Truncated_json_array_reports_a_line()
    {
        var e = Assert.Throws<InvalidDataException>(() => SvampReader.Parse("[\n {\"ID\": \"a\",\n  \"Body\": ", "svamp.json"));
        Assert.Matches(@"^svamp\.json:\d+: malformed JSON \(", e.Message);
    }

    [Fact]
    public void Math500_without_answer_uses_the_last_box_and_level_text()
    {
        const string line = """{"problem": "p", "solution": "so $\\boxed{1}$ no, $\\boxed{\\frac{1}{2}}$", "level": "Level 3", "type": "Algebra"}""";
        var item = Assert.Single(Math500Reader.Parse(line));
        Assert.Equal("\\frac{1}{2}", item.Gold);
        Assert.Equal("3", item.Level);
        Assert.Equal("Algebra", item.Subject);
        var e = Assert.Throws<InvalidDataException>(() => Math500Reader.Parse("""{"problem": "p", "solution": "no box"}""", "m.jsonl"));
        Assert.Equal("m.jsonl:1: no \"answer\" and no \\boxed{} in the \"solution\"; give the final answer in an \"answer\" field.", e.Message);
    }

    // ---- dispatch ----

    [Theory]
    [InlineData("""{"id": "x", "question": {"stem": "q", "choices": [{"label": "A", "text": "a"}, {"label": "B", "text": "b"}]}, "answerKey": "A"}""", "csqa")]
    [InlineData("""{"question": "q", "choices": ["a", "b"], "answer": "A"}""", "csqa")]
    [InlineData("""{"qid": "x", "question": "q", "answer": false}""", "strategyqa")]
    [InlineData("""{"Question": "q", "Correct Answer": "a", "Incorrect Answer 1": "b", "Incorrect Answer 2": "c", "Incorrect Answer 3": "d"}""", "gpqa")]
    [InlineData("""{"question": "q", "answer": "1 + 1 = 2\n#### 2"}""", "gsm8k")]
    public void Auto_detects_inline_files(string line, string expected)
    {
        var path = Path.Combine(Path.GetTempPath(), $"compact-bench-{Guid.NewGuid():N}.jsonl");
        try
        {
            File.WriteAllText(path, line + "\n");
            Assert.Equal(expected, BenchmarkLoader.Detect(path));
            Assert.Single(BenchmarkLoader.Load("auto", path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Auto_refuses_an_unknown_shape()
    {
        var path = Path.Combine(Path.GetTempPath(), $"compact-bench-{Guid.NewGuid():N}.jsonl");
        try
        {
            File.WriteAllText(path, "{\"text\": \"hello\"}\n");
            var e = Assert.Throws<InvalidDataException>(() => BenchmarkLoader.Load("auto", path));
            Assert.Equal($"{path}:1: cannot tell which benchmark this is from its first record (keys: text); pass the benchmark name (gsm8k, svamp, math500, csqa, strategyqa, gpqa, arc) instead of auto.", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("GSM8K")]
    [InlineData("gsm-8k")]
    public void Names_are_case_and_dash_insensitive(string name)
        => Assert.Equal(1319, BenchmarkLoader.Load(name, BenchmarkFiles.PathOf("gsm8k_test.jsonl")).Count);

    [Fact]
    public void Unknown_name_and_missing_file()
    {
        var e = Assert.Throws<ArgumentException>(() => BenchmarkLoader.Load("mmlu", BenchmarkFiles.PathOf("gsm8k_test.jsonl")));
        Assert.StartsWith("Unknown benchmark \"mmlu\"; use one of gsm8k, svamp, math500, csqa, strategyqa, gpqa, arc or auto.", e.Message);
        Assert.Throws<FileNotFoundException>(() => BenchmarkLoader.Load("gsm8k", "/nonexistent/gsm8k.jsonl"));
    }
}
