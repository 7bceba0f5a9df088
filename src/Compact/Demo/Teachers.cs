using System.Globalization;
using System.Text;
using Compact.Serving;

namespace Compact.Demo;

/// <summary>The demo's scripted teachers, each with a character the paper describes. They read the problem from
/// the prompt, solve it exactly, and write the solution in their own style; the teach step reaches them over
/// HTTP like any other OpenAI-compatible teacher and checks their answers.</summary>
public sealed class ScriptedTeacher(string name, Func<Problem, Random, string> write, double wrongAnswerRate = 0) : ICompletionBackend
{
    public string ModelId => name;
    public int ContextLength => 1 << 20;
    public int CountPromptTokens(CompletionRequest request) => 0;

    public CompletionResult Complete(CompletionRequest request, Action<string>? onDelta, CancellationToken ct)
    {
        var prompt = request.Messages?.LastOrDefault(m => m.Role == "user")?.Content ?? request.Prompt ?? "";
        var p = World.Parse(prompt);
        // Deterministic per (teacher, question, seed), so reruns and resumed runs see the same replies.
        var rng = new Random(Training.Seeds.Mix(World.StableHash(name + "\n" + prompt), request.Seed ?? 0));
        string text;
        if (p is null) text = "I cannot read this problem.";
        else if (rng.NextDouble() < wrongAnswerRate)
        {
            // A slip in the last step: the final answer is wrong and the teach step will reject this rationale.
            var steps = p.Steps.ToList();
            var last = steps[^1];
            steps[^1] = last with { After = last.After + 1 + rng.Next(3) };
            text = write(p with { Steps = steps }, rng);
        }
        else text = write(p, rng);
        onDelta?.Invoke(text);
        return new CompletionResult(text, "stop", prompt.Length / 4, text.Length / 4);
    }

    static string Verb(Step s) => s.Op switch
    {
        '+' => "adds", '-' => "takes away", '*' => s.Operand == 2 ? "doubles" : "triples", _ => "halves",
    };

    /// <summary>Concise generalist: one equation per step, then the result.</summary>
    public static string Concise(Problem p, Random rng) =>
        string.Join(" ", p.Steps.Select(s => s.Equation() + ".")) + $" So {p.Name} has {p.Answer} {p.Items}.";

    /// <summary>Verbose expert: long, full of thinking words, far from the student's terse style.</summary>
    public static string Verbose(Problem p, Random rng)
    {
        var sb = new StringBuilder();
        sb.Append(rng.Next(2) == 0 ? "Okay, let us work through this carefully, one event at a time. " : "Hmm, let me think about this problem step by step. ");
        sb.Append(CultureInfo.InvariantCulture, $"First, note that {p.Name} starts with {p.Start} {p.Items}. ");
        for (int i = 0; i < p.Steps.Count; i++)
        {
            var s = p.Steps[i];
            string lead = i == 0 ? "Then" : new[] { "Next", "After that", "Consequently", "Specifically" }[rng.Next(4)];
            sb.Append(CultureInfo.InvariantCulture, $"{lead}, the problem {Verb(s)} {s.Operand} here, so we compute {s.Equation()}. ");
            if (rng.Next(3) == 0) sb.Append(CultureInfo.InvariantCulture, $"Wait, let me double-check that: yes, {s.Equation()} is right. ");
            sb.Append(CultureInfo.InvariantCulture, $"Therefore {p.Name} now has {s.After} {p.Items}. ");
        }
        sb.Append(CultureInfo.InvariantCulture, $"In summary, after all {p.Steps.Count} events, {p.Name} ends up with {p.Answer} {p.Items}.");
        return sb.ToString();
    }

    /// <summary>Noisy teacher: the concise style, but often one intermediate result is wrong while the chain goes on
    /// from the right value, so the final answer still checks (a hallucinated path).</summary>
    public static string Noisy(Problem p, Random rng)
    {
        int bad = p.Steps.Count > 1 && rng.NextDouble() < 0.7 ? rng.Next(p.Steps.Count - 1) : -1;
        return string.Join(" ", p.Steps.Select((s, i) => s.Equation(i == bad ? s.After + (rng.Next(2) == 0 ? -1 : 1) * (1 + rng.Next(4)) : null) + "."))
            + $" So {p.Name} has {p.Answer} {p.Items}.";
    }

    /// <summary>Shortcut teacher: the answer with almost no reasoning.</summary>
    public static string Shortcut(Problem p, Random rng) =>
        rng.Next(2) == 0 ? $"{p.Answer}." : $"{p.Name} has {p.Answer}.";

    /// <summary>The four teachers of the demo, with the rate at which each gets a final answer wrong.</summary>
    public static IReadOnlyList<ScriptedTeacher> All() =>
    [
        new("concise", Concise, 0.05),
        new("verbose", Verbose, 0.05),
        new("noisy", Noisy, 0.10),
        new("shortcut", Shortcut, 0.05),
    ];
}
