using System.Globalization;
using System.Text.RegularExpressions;

namespace Compact.Demo;

/// <summary>One arithmetic step of a word problem: the operation, its operand, the value before and after.</summary>
public sealed record Step(char Op, int Operand, int Before, int After)
{
    /// <summary>"12 - 3 = 9" (doubling and halving are written as * 2 and / 2).</summary>
    public string Equation(int? shownResult = null) => $"{Before} {Op} {Operand} = {shownResult ?? After}";
}

/// <summary>A multi-step word problem with its exact solution.</summary>
public sealed record Problem(string Id, string Name, string Items, int Start, IReadOnlyList<Step> Steps, string Text)
{
    public int Answer => Steps.Count == 0 ? Start : Steps[^1].After;
}

/// <summary>The demo's built-in world: arithmetic word problems of 2 to 6 steps generated from templates with
/// exact answers, single-step arithmetic facts, and an unrelated yes/no skill (number comparisons). The student
/// is pre-trained on the facts and the comparisons ("original knowledge"); distillation only ever shows it word
/// problems, so the comparisons measure forgetting. Everything is a pure function of the seed.</summary>
public static class World
{
    static readonly string[] Names = ["Mia", "Tom", "Ana", "Leo", "Sam", "Eva", "Max", "Zoe", "Ben", "Ivy"];
    static readonly string[] Things = ["apples", "pens", "coins", "books", "stickers", "marbles", "shells", "cards"];
    static readonly string[] Friends = ["a friend", "her brother", "his sister", "a neighbour", "the teacher"];
    /// <summary>Every quantity stays in [0, 20], so the single-step facts form a small table a tiny student can
    /// learn completely in pre-training; the difficulty is in reading the problem and chaining the steps.</summary>
    public const int MaxValue = 20;

    /// <summary>A problem with `steps` operations; every intermediate value stays in [1, MaxValue].</summary>
    public static Problem MakeProblem(Random rng, int steps, string id)
    {
        var name = Names[rng.Next(Names.Length)];
        var items = Things[rng.Next(Things.Length)];
        int x = rng.Next(1, 11);
        var list = new List<Step>();
        var sentences = new List<string> { $"{name} has {x} {items}." };
        for (int s = 0; s < steps; s++)
        {
            int kind = rng.Next(5);
            switch (kind)
            {
                case 0 or 1 when x + 1 <= MaxValue:
                {
                    int b = rng.Next(1, Math.Min(5, MaxValue - x) + 1);
                    list.Add(new Step('+', b, x, x + b));
                    sentences.Add(rng.Next(2) == 0 ? $"Then {name} buys {b} more." : $"Then {name} finds {b} more {items}.");
                    x += b;
                    break;
                }
                case 2 when x >= 2:
                {
                    int b = rng.Next(1, Math.Min(5, x - 1) + 1);
                    list.Add(new Step('-', b, x, x - b));
                    sentences.Add($"Then {name} gives {b} to {Friends[rng.Next(Friends.Length)]}.");
                    x -= b;
                    break;
                }
                case 3 when x * 2 <= MaxValue:
                {
                    int k = x * 3 <= MaxValue && rng.Next(3) == 0 ? 3 : 2;
                    list.Add(new Step('*', k, x, x * k));
                    sentences.Add(k == 2 ? $"Then the number of {items} doubles." : $"Then the number of {items} triples.");
                    x *= k;
                    break;
                }
                case 4 when x % 2 == 0 && x >= 2:
                    list.Add(new Step('/', 2, x, x / 2));
                    sentences.Add("Then half of them are lost.");
                    x /= 2;
                    break;
                default:
                    s--;                                      // this operation does not fit the value: draw again
                    break;
            }
        }
        sentences.Add($"How many {items} does {name} have now?");
        return new Problem(id, name, items, list[0].Before, list, string.Join(" ", sentences));
    }

    static readonly Regex Sentence = new(@"(?<name>\w+) has (?<x>\d+) (?<items>\w+)\.|buys (?<add>\d+) more|finds (?<add2>\d+) more|gives (?<sub>\d+) to|(?<mul>doubles|triples)|(?<half>half of them)",
        RegexOptions.CultureInvariant);

    /// <summary>Reads a problem back from its text (what the scripted teachers do to solve it); null when the
    /// text is not a problem of this world.</summary>
    public static Problem? Parse(string text)
    {
        int? x = null;
        string name = "", items = "";
        var steps = new List<Step>();
        foreach (Match m in Sentence.Matches(text))
        {
            if (m.Groups["x"].Success) { x = int.Parse(m.Groups["x"].Value, CultureInfo.InvariantCulture); name = m.Groups["name"].Value; items = m.Groups["items"].Value; continue; }
            if (x is null) return null;
            int v = x.Value;
            Step st;
            if (m.Groups["add"].Success || m.Groups["add2"].Success) { int b = int.Parse(m.Groups["add"].Success ? m.Groups["add"].Value : m.Groups["add2"].Value, CultureInfo.InvariantCulture); st = new('+', b, v, v + b); }
            else if (m.Groups["sub"].Success) { int b = int.Parse(m.Groups["sub"].Value, CultureInfo.InvariantCulture); st = new('-', b, v, v - b); }
            else if (m.Groups["mul"].Success) { int k = m.Groups["mul"].Value == "doubles" ? 2 : 3; st = new('*', k, v, v * k); }
            else st = new('/', 2, v, v / 2);
            steps.Add(st);
            x = st.After;
        }
        return x is null || steps.Count == 0 ? null : new Problem("", name, items, steps[0].Before, steps, text);
    }

    public static List<Problem> Problems(long seed, int count, int minSteps, int maxSteps, string prefix)
    {
        var rng = new Random(Training.Seeds.Mix(seed, StableHash(prefix) ^ (minSteps * 31 + maxSteps)));
        return Enumerable.Range(0, count).Select(i => MakeProblem(rng, rng.Next(minSteps, maxSteps + 1), $"{prefix}-{i}")).ToList();
    }

    /// <summary>FNV-1a: string hashes that are the same in every process (string.GetHashCode is randomised).</summary>
    public static long StableHash(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s) { h ^= c; h *= 1099511628211UL; }
        return (long)(h & 0x7FFFFFFFFFFFFFFF);
    }

    /// <summary>How every answer in the world ends, in pre-training targets and in distillation branches alike:
    /// reasoning that ends with a full stop, then " The answer is: N". Branches are built with <see cref="Suffix"/>, so
    /// a branch's target tokens after its rationale are exactly those the student produced in pre-training (issue 11,
    /// fault 1: a "\n\nThe answer is:" suffix put four never-seen tokens into every branch).</summary>
    public const string AnswerLead = " The answer is: ";
    public static readonly Distill.AnswerSuffix Suffix = new(AnswerLead + "{answer}");

    /// <summary>The pre-training target for a piece of reasoning and its answer.</summary>
    public static string Target(string reasoning, string answer) => reasoning + AnswerLead + answer;

    /// <summary>A single-step fact with the same operations and ranges as the problems, e.g. ("What is 12 - 3?",
    /// "12 - 3 = 9.", "9"): target "12 - 3 = 9. The answer is: 9".</summary>
    public static Known Fact(Random rng)
    {
        while (true)
        {
            int a = rng.Next(1, MaxValue + 1);
            switch (rng.Next(4))
            {
                case 0: { int b = rng.Next(1, 6); if (a + b > MaxValue) continue; return F(a, '+', b, a + b); }
                case 1: { int b = rng.Next(1, 6); if (b >= a) continue; return F(a, '-', b, a - b); }
                case 2: { int k = rng.Next(2, 4); if (a * k > MaxValue) continue; return F(a, '*', k, a * k); }
                default: if (a % 2 != 0) continue; return F(a, '/', 2, a / 2);
            }
        }
        static Known F(int a, char op, int b, int r) =>
            new($"What is {a} {op} {b}?", $"{a} {op} {b} = {r}.", r.ToString(CultureInfo.InvariantCulture), KnownKind.Fact);
    }

    /// <summary>A one-step word problem in the student's own terse style: reading a quantity and applying one known
    /// fact is original knowledge; chaining several steps is what distillation has to teach.</summary>
    public static Known OneStep(Random rng)
    {
        var p = MakeProblem(rng, 1, "one");
        return new(p.Text, $"{p.Steps[0].Equation()}.", p.Answer.ToString(CultureInfo.InvariantCulture), KnownKind.OneStep);
    }

    /// <summary>The unrelated skill: "Is 37 greater than 52?" → "37 is less than 52, so no." → no.</summary>
    public static Known Comparison(Random rng)
    {
        int a = rng.Next(0, 100), b = rng.Next(0, 100);
        while (b == a) b = rng.Next(0, 100);
        bool yes = a > b;
        var ans = yes ? "yes" : "no";
        return new($"Is {a} greater than {b}?", $"{a} is {(yes ? "greater" : "less")} than {b}, so {ans}.", ans, KnownKind.Comparison);
    }

    /// <summary>The pre-training mix (and the replay mix during distillation): 40% facts, 30% one-step problems, 30%
    /// comparisons.</summary>
    public static Known Original(Random rng, int i) => (i % 10) switch { < 4 => Fact(rng), < 7 => OneStep(rng), _ => Comparison(rng) };
}

public enum KnownKind { Fact, OneStep, Comparison }

/// <summary>A piece of the student's original knowledge: the question, the reasoning it writes (ending with a full
/// stop) and the answer.</summary>
public sealed record Known(string Question, string Reasoning, string Answer, KnownKind Kind)
{
    public string Target => World.Target(Reasoning, Answer);
}
