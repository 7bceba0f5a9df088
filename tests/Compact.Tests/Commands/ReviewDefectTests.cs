using System.Globalization;
using System.Reflection;
using Compact.Cli.Commands;
using Compact.Distill;
using Compact.Tokenization;
using Compact.Training;

namespace Compact.Tests.Commands;

/// <summary>Issue 18's CLI items and distill's --min-rationales filter.</summary>
public class ReviewDefectTests
{
    static string Line(string id, string answer, params (string Teacher, string Text)[] rs) =>
        "{\"id\":\"" + id + "\",\"question\":\"What is 2 plus " + (int.Parse(answer, CultureInfo.InvariantCulture) - 2) + "?\",\"answer\":\"" + answer + "\",\"rationales\":["
        + string.Join(",", rs.Select(r => "{\"teacher\":\"" + r.Teacher + "\",\"text\":\"" + r.Text + "\"}")) + "]}\n";

    [Fact]
    public void Distill_skips_questions_below_min_rationales_and_counts_them()
    {
        using var dir = new TestUtil.TempDir();
        // q1 has two rationales, q2 one, q3 three: with 2 as the minimum only q2 goes.
        File.WriteAllText(dir["d.jsonl"],
            Line("q1", "5", ("a", "2+3 is 5"), ("b", "two plus three is 5")) +
            Line("q2", "6", ("a", "2+4 is 6")) +
            Line("q3", "7", ("a", "2+5 is 7"), ("b", "two plus five is 7"), ("c", "7")));
        var chat = ChatFormat.For(ByteLevelBpeTrainer.BytesOnly().ToTokenizer());
        var w = new StringWriter();
        var two = DistillRun.Prepare(dir["d.jsonl"], chat, new AnswerSuffix(), 512, TruncationMode.TruncateStart, false, null, null, w, minRationales: 2);
        Assert.Equal(["q1", "q3"], two.Select(b => b.Question.Id));
        Assert.Contains("1 with fewer than 2 usable rationales (--min-rationales)", w.ToString());
        Assert.Equal(3, DistillRun.Prepare(dir["d.jsonl"], chat, new AnswerSuffix(), 512, TruncationMode.TruncateStart, false, null, null, w, minRationales: 1).Count);
        var ex = Assert.Throws<CompactException>(() =>
            DistillRun.Prepare(dir["d.jsonl"], chat, new AnswerSuffix(), 512, TruncationMode.TruncateStart, false, null, null, w, minRationales: 4));
        Assert.Contains("no question has 4 usable rationales; lower --min-rationales", ex.Message);
    }

    [Fact]
    public void Data_import_of_a_json_object_names_what_it_found()
    {
        using var dir = new TestUtil.TempDir();
        File.WriteAllText(dir["obj.json"], "{\"Question\": \"q\", \"CoT\": [\"c\"], \"Answer\": \"1\"}");
        var ex = Assert.Throws<CompactException>(() => DataCommand.Import(dir["obj.json"], dir["out.jsonl"], "auto", new StringWriter()));
        Assert.StartsWith($"{dir["obj.json"]}: expected a JSON list of questions, found a JSON object", ex.Message);
        Assert.DoesNotContain("not a JSON list", ex.Message);
        Assert.False(File.Exists(dir["out.jsonl"]));
    }

    [Fact]
    public void Data_import_has_the_skip_bad_lines_flag_its_error_suggests()
    {
        using var dir = new TestUtil.TempDir();
        // The authors' format: the second item has no CoT list.
        File.WriteAllText(dir["a.json"], "[{\"Question\": \"What is 1+1?\", \"CoT\": [\"1+1 = 2. The answer is 2\"], \"Answer\": \"2\"}, {\"Question\": \"x\", \"Answer\": \"3\"}]");
        var ex = Assert.Throws<CompactException>(() => DataCommand.Import(dir["a.json"], dir["out.jsonl"], "auto", new StringWriter()));
        Assert.Contains("--skip-bad-lines", ex.Message);
        var w = new StringWriter();
        var code = Compact.Cli.CompactCli.Run(["data", "import", dir["a.json"], "--out", dir["out.jsonl"], "--skip-bad-lines"], w, w);
        Assert.True(code == 0, w.ToString());
        Assert.Contains("Imported 1 questions", w.ToString());
        Assert.Contains("(1 bad items skipped)", w.ToString());
        Assert.Single(File.ReadAllLines(dir["out.jsonl"]));
    }

    [Fact]
    public void Ctrl_c_handler_is_removed_when_the_run_ends()
    {
        // Console keeps its CancelKeyPress subscribers in one static delegate field; find it by type, not by name.
        var field = typeof(Console).GetFields(BindingFlags.Static | BindingFlags.NonPublic)
            .Single(f => f.FieldType == typeof(ConsoleCancelEventHandler));
        int Count() => (field.GetValue(null) as Delegate)?.GetInvocationList().Length ?? 0;
        var before = Count();
        var ctrlC = TrainOptions.CancelOnCtrlC();
        Assert.Equal(before + 1, Count());
        ctrlC.Dispose();
        Assert.Equal(before, Count());
    }
}

public class TeacherFileTests
{
    [Theory]
    [InlineData("samples: 1.9", "\"samples\" must be a whole number in [1, 100] (got 1.9)")]
    [InlineData("concurrency: 2.5", "\"concurrency\" must be a whole number in [1, 1024] (got 2.5)")]
    [InlineData("samples: 0", "\"samples\" must be a number in [1, 100]")]
    public void Whole_number_fields_refuse_fractions(string field, string message)
    {
        using var dir = new TestUtil.TempDir();
        File.WriteAllText(dir["t.yaml"], "teachers:\n  - name: a\n    base_url: http://127.0.0.1:9/v1\n    model: m\n    " + field + "\n");
        var ex = Assert.Throws<CompactException>(() => Compact.Teach.TeachersFile.Load(dir["t.yaml"]));
        Assert.Contains(message, ex.Message);
    }
}
