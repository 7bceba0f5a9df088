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
    public void Original_knowledge_targets_end_with_the_world_answer_format()
    {
        var rng = new Random(2);
        foreach (var k in Enumerable.Range(0, 200).Select(i => World.Original(rng, i)))
        {
            Assert.EndsWith(".", k.Reasoning);
            Assert.Equal(k.Reasoning + " The answer is: " + k.Answer, k.Target);
        }
        // Hand-checked: "What is 12 - 3?" → "12 - 3 = 9. The answer is: 9".
        var f = new Known("What is 12 - 3?", "12 - 3 = 9.", "9", KnownKind.Fact);
        Assert.Equal("12 - 3 = 9. The answer is: 9", f.Target);
        Assert.Equal((" The answer is:", " 9", ""), World.Suffix.Split("9"));
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

    static RationaleTruth Truth(ScriptedTeacher t, Problem p, long seed) => t.Reply($"Solve step by step.\n\n{p.Text}", seed).Truth;

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
        Assert.Contains("In summary", Ask(teachers["verbose"], problems[0], 0));

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

        // The recorded ground truth names the wrong step and both values, as the text shows them.
        foreach (var p in problems.Take(100))
        {
            var text = Ask(teachers["noisy"], p, 0);
            var truth = Truth(teachers["noisy"], p, 0);
            var eqs = Regex.Matches(text, @"(\d+) ([-+*/]) (\d+) = (\d+)").ToList();
            if (truth.Flaw == RationaleTruth.HallucinatedStep)
            {
                var m = eqs[truth.Step!.Value];
                Assert.Equal(truth.Shown, int.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture));
                Assert.Equal(p.Steps[truth.Step.Value].After, truth.Correct);
                Assert.NotEqual(truth.Shown, truth.Correct);
                Assert.Equal(p.Steps[truth.Step.Value].Equation(truth.Shown), m.Value);
            }
            else if (truth.Flaw == RationaleTruth.None)
                Assert.Equal(ScriptedTeacher.Concise(p, new Random(0)).Text, text);
        }
        Assert.All(problems.Take(50), p => Assert.Contains(Truth(teachers["shortcut"], p, 0).Flaw, new[] { RationaleTruth.NoReasoning, RationaleTruth.WrongAnswer }));
        Assert.All(problems.Take(50), p => Assert.Equal(Ask(teachers["verbose"], p, 0).Length, Truth(teachers["verbose"], p, 0).Chars));
        // Replies are a function of (teacher, question, seed): a rerun asks the same and gets the same.
        Assert.Equal(Ask(teachers["verbose"], problems[3], 1), Ask(teachers["verbose"], problems[3], 1));
    }
}
