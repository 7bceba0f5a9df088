using System.Text.Json;
using System.Text.RegularExpressions;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Cli.Commands;
using Compact.Eval;

namespace Compact.Tests.Benchmarks;

/// <summary>The paper's out-of-distribution files as they are published: CommonsenseQA dev (official layout),
/// StrategyQA as BIG-bench packages it, ARC-Challenge test (Hugging Face layout plus one model's response).
/// Expected counts are the files' README; expected items were read off the files by hand.</summary>
public class OodBenchmarkTests
{
    [Theory]
    [InlineData("commonsenseqa_dev.jsonl", "csqa", 1221)]
    [InlineData("strategyqa_bigbench_task.json", "strategyqa", 2290)]
    [InlineData("arc_challenge_test.jsonl", "arc", 1172)]
    public void Auto_detects_and_reads_the_real_files(string file, string expected, int count)
    {
        Assert.Equal(expected, BenchmarkLoader.Detect(BenchmarkFiles.PathOf(file)));
        var items = BenchmarkLoader.Load("auto", BenchmarkFiles.PathOf(file));
        Assert.Equal(count, items.Count);
        Assert.Equal(count, items.Select(i => i.Id).Distinct().Count());
    }

    [Fact]
    public void Commonsenseqa_dev_first_item()
    {
        var cs = BenchmarkLoader.Load("auto", BenchmarkFiles.PathOf("commonsenseqa_dev.jsonl"));
        var q = cs[0];
        Assert.Equal("1afa02df02c908a558b4036e80242fac", q.Id);
        Assert.Equal("A revolving door is convenient for two direction travel, but it also serves as a security measure at a what?", q.Question);
        Assert.Equal(["bank", "library", "department store", "mall", "new york"], q.Choices);
        Assert.Equal("A", q.Gold);
        Assert.Equal(AnswerKind.Choice, q.Kind);
        Assert.Equal("revolving door", q.Subject);
    }

    [Fact]
    public void Strategyqa_bigbench_gold_comes_from_target_scores_and_the_explanation_is_the_solution()
    {
        var sq = BenchmarkLoader.Load("strategyqa", BenchmarkFiles.PathOf("strategyqa_bigbench_task.json"));
        Assert.Equal(1071, sq.Count(x => x.Gold == "yes"));                  // README: 1071 yes, 1219 no
        Assert.Equal(1219, sq.Count(x => x.Gold == "no"));
        Assert.Equal("Is it common to see frost during some college commencements?", sq[0].Question);
        Assert.Equal("yes", sq[0].Gold);
        Assert.StartsWith("College commencement ceremonies often happen", sq[0].GoldSolution);
        Assert.Equal("Hydrogen's atomic number squared exceeds number of Spice Girls?", sq[1].Question);
        Assert.Equal("no", sq[1].Gold);
        Assert.StartsWith("Hydrogen is the first element", sq[1].GoldSolution);
        Assert.All(sq, x => Assert.Equal(AnswerKind.YesNo, x.Kind));
    }

    [Fact]
    public void Bigbench_item_without_one_yes_or_no_names_its_line()
    {
        var text = "{\n  \"canary\": \"x\",\n  \"examples\": [\n    {\"input\": \"a?\", \"target_scores\": {\"Yes\": 1, \"No\": 0}},\n    {\"input\": \"b?\", \"target_scores\": {\"Yes\": 1, \"No\": 1}}\n  ]\n}\n";
        var e = Assert.Throws<InvalidDataException>(() => StrategyQaReader.Parse(text, "t.json"));
        Assert.Equal("t.json:5: \"target_scores\" is {\"Yes\": 1, \"No\": 1}, not one of Yes/No scored 1 and the other 0; "
            + "each BIG-bench StrategyQA example needs {\"input\", \"target_scores\": {\"Yes\": 0|1, \"No\": 0|1}}.", e.Message);
    }

    [Theory]
    [InlineData("Mercury_7175875", 4, "C")]
    [InlineData("TIMSS_1995_8_J7", 5, "D")]
    [InlineData("NYSEDREGENTS_2010_4_4", 3, "A")]
    public void Arc_items_keep_three_to_five_options(string id, int options, string gold)
    {
        var arc = BenchmarkLoader.Load("arc", BenchmarkFiles.PathOf("arc_challenge_test.jsonl"));
        var q = arc.Single(x => x.Id == id);
        Assert.Equal(options, q.Choices!.Count);
        Assert.Equal(gold, q.Gold);
    }

    static Dictionary<string, string> ArcResponses() => File.ReadLines(BenchmarkFiles.PathOf("arc_challenge_test.jsonl"))
        .Select(l => JsonDocument.Parse(l).RootElement)
        .ToDictionary(e => e.GetProperty("id").GetString()!, e => e.GetProperty("response").GetString()!);

    // Real chains of thought from the ARC file. Where the model was right the expected letter is the file's answerKey;
    // where it was wrong (marked), the letter its last sentence names, checked by hand.
    [Theory]
    [InlineData("Mercury_7175875", "C")]           // "Therefore, the days … The best answer is C."
    [InlineData("Mercury_406427", "C")]            // "Therefore, the best answer is C." (lower case, the one odd ending)
    [InlineData("TIMSS_1995_8_J7", "D")]           // every option A–E discussed on its own line first
    [InlineData("NYSEDREGENTS_2010_4_4", "A")]     // three options
    [InlineData("Mercury_7139878", "D")]           // wrong (gold C); "The best answer is D" without a full stop
    [InlineData("Mercury_402341", "A")]            // wrong (gold D); the body calls D "the correct configuration"
    [InlineData("Mercury_184730", "A")]            // wrong (gold B); "while B is possible, A is the stronger possibility"
    [InlineData("Mercury_7009993", "B")]           // wrong (gold A); "While B isn't perfectly worded, …"
    public void Multiple_choice_extraction_on_real_model_outputs(string id, string expected)
    {
        var arc = BenchmarkLoader.Load("arc", BenchmarkFiles.PathOf("arc_challenge_test.jsonl")).Single(x => x.Id == id);
        var r = AnswerCheck.Check(arc.Kind, arc.Gold, ArcResponses()[id], arc.Choices);
        Assert.Equal(expected, r.Normalized);
        Assert.Equal(expected == arc.Gold, r.Correct);
    }

    [Fact]
    public void Every_arc_response_is_read_as_the_letter_its_final_sentence_names()
    {
        // Independent reference: the letter after the last "best answer is" (every response ends that way).
        var items = BenchmarkLoader.Load("arc", BenchmarkFiles.PathOf("arc_challenge_test.jsonl"));
        var responses = ArcResponses();
        var rx = new Regex(@"best answer is ([A-E])\.?\s*$", RegexOptions.IgnoreCase);
        foreach (var q in items)
        {
            var m = rx.Match(responses[q.Id]);
            Assert.True(m.Success, q.Id);
            Assert.Equal(m.Groups[1].Value, AnswerCheck.Check(q.Kind, q.Gold, responses[q.Id], q.Choices).Normalized);
        }
    }

    [Fact]
    public void Yes_no_extraction_on_the_real_strategyqa_answers()
    {
        // BIG-bench's targets are written answers ("Yes. College commencement …", "No. Hydrogen is …"); the gold comes
        // from target_scores, read independently of the text.
        using var doc = JsonDocument.Parse(File.ReadAllBytes(BenchmarkFiles.PathOf("strategyqa_bigbench_task.json")));
        int n = 0;
        foreach (var e in doc.RootElement.GetProperty("examples").EnumerateArray())
        {
            var gold = e.GetProperty("target_scores").GetProperty("Yes").GetInt32() == 1 ? "yes" : "no";
            var r = AnswerCheck.Check(AnswerKind.YesNo, gold, e.GetProperty("target").GetString()!);
            Assert.True(r.Correct, $"{e.GetProperty("input").GetString()}: {r.Reason}");
            n++;
        }
        Assert.Equal(2290, n);
    }

    [Fact]
    public void Eval_reads_the_real_files_and_applies_the_extraction_to_numeric_items_only()
    {
        using var dir = new TestUtil.TempDir();
        var a = new EvalCommand.Args(null, null, [], [$"gsm8k={BenchmarkFiles.PathOf("gsm8k_test.jsonl")}", BenchmarkFiles.PathOf("arc_challenge_test.jsonl"),
            BenchmarkFiles.PathOf("strategyqa_bigbench_task.json"), BenchmarkFiles.PathOf("commonsenseqa_dev.jsonl")], dir.Path, Limit: 3) { Extraction = "strict-match" };
        var benches = EvalCommand.LoadBenches(a);
        Assert.Equal(["gsm8k", "arc", "strategyqa", "csqa"], benches.Select(b => b.Name));
        Assert.Equal([1319, 1172, 2290, 1221], benches.Select(b => b.Total));
        Assert.All(benches[0].Items, i => Assert.Equal(Extraction.StrictMatch, i.Extraction));
        Assert.All(benches.Skip(1).SelectMany(b => b.Items), i => Assert.Equal(Extraction.Default, i.Extraction));
        // strict-match asks for the harness's form.
        Assert.Contains("'The answer is N.'", EvalPrompts.Build(benches[0].Items[0], null, []).System);
        Assert.Contains("The answer is (X)", EvalPrompts.Build(benches[1].Items[0], null, []).System);
        Assert.Contains("Options:\nA. ", EvalPrompts.Build(benches[1].Items[0], null, []).User);
        Assert.Contains("'The answer is: yes'", EvalPrompts.Build(benches[2].Items[0], null, []).System);
    }
}
