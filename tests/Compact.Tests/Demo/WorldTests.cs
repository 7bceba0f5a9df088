using System.Globalization;
using System.Text.RegularExpressions;
using Compact.Answers;
using Compact.Demo;
using Compact.Serving;

namespace Compact.Tests.Demo;

public class WorldTests
{
    [Fact]
    public void Problems_are_deterministic_in_range_and_parse_back_to_their_solution()
    {
        var a = World.Problems(3, 200, 2, 6, "t");
        var b = World.Problems(3, 200, 2, 6, "t");
        Assert.Equal(a.Select(p => p.Text), b.Select(p => p.Text));
        Assert.NotEqual(a.Select(p => p.Text), World.Problems(4, 200, 2, 6, "t").Select(p => p.Text));
        foreach (var p in a)
        {
            Assert.InRange(p.Steps.Count, 2, 6);
            Assert.All(p.Steps, s => Assert.InRange(s.After, 0, World.MaxValue));
            var parsed = World.Parse(p.Text)!;
            Assert.Equal(p.Answer, parsed.Answer);
            Assert.Equal(p.Steps, parsed.Steps);
        }
    }

    [Fact]
    public void Hand_checked_problem()
    {
        var p = World.Parse("Mia has 7 apples. Then Mia buys 5 more. Then Mia gives 3 to a friend. Then the number of apples doubles. Then half of them are lost. How many apples does Mia have now?")!;
        // 7 + 5 = 12, 12 − 3 = 9, 9 × 2 = 18, 18 / 2 = 9.
        Assert.Equal(["7 + 5 = 12", "12 - 3 = 9", "9 * 2 = 18", "18 / 2 = 9"], p.Steps.Select(s => s.Equation()));
        Assert.Equal(9, p.Answer);
        Assert.Null(World.Parse("What is the capital of France?"));
    }

    static string Ask(ScriptedTeacher t, Problem p, long seed) =>
        t.Complete(new CompletionRequest { Messages = [new("user", $"Solve step by step.\n\n{p.Text}")], Seed = seed }, null, default).Text;

    [Fact]
    public void Teachers_have_their_characters()
    {
        var problems = World.Problems(1, 300, 2, 4, "c");
        var teachers = ScriptedTeacher.All().ToDictionary(t => t.ModelId);
        double Correct(string name) => problems.Count(p => AnswerCheck.IsValidRationale(AnswerKind.Numeric, p.Answer.ToString(CultureInfo.InvariantCulture), Ask(teachers[name], p, 0))) / 300.0;
        foreach (var name in teachers.Keys) Assert.InRange(Correct(name), 0.85, 0.99);     // a few wrong final answers each, rejected by teach

        double Len(string name) => problems.Average(p => Ask(teachers[name], p, 0).Length);
        Assert.True(Len("verbose") > 3 * Len("concise"));
        Assert.True(Len("shortcut") < 20);
        Assert.Contains("Therefore", Ask(teachers["verbose"], problems[0], 0));

        // The noisy teacher's correct answers often rest on a wrong intermediate equation.
        int wrongPath = 0, right = 0;
        foreach (var p in problems)
        {
            var text = Ask(teachers["noisy"], p, 0);
            if (!AnswerCheck.IsValidRationale(AnswerKind.Numeric, p.Answer.ToString(CultureInfo.InvariantCulture), text)) continue;
            right++;
            bool bad = Regex.Matches(text, @"(\d+) ([-+*/]) (\d+) = (\d+)").Any(m =>
            {
                int x = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), y = int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture), r = int.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture);
                return m.Groups[2].Value switch { "+" => x + y, "-" => x - y, "*" => x * y, _ => x / y } != r;
            });
            if (bad) wrongPath++;
        }
        Assert.InRange(wrongPath / (double)right, 0.5, 0.8);
        // Replies are a function of (teacher, question, seed): a rerun asks the same and gets the same.
        Assert.Equal(Ask(teachers["verbose"], problems[3], 1), Ask(teachers["verbose"], problems[3], 1));
    }
}
