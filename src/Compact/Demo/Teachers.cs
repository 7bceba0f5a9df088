using System.Globalization;
using System.Text;
using Compact.Serving;

namespace Compact.Demo;

/// <summary>What is known to be wrong with one rationale, recorded by the teacher that wrote it: the ground truth the
/// score-validity diagnostic checks COMPACT's scores against.</summary>
/// <param name="Flaw">"none", "hallucinated_step" (an intermediate result is wrong while the chain goes on from the
/// right value), "no_reasoning" (the answer without its steps) or "wrong_answer" (a slip in the last step; the teach
/// step rejects such rationales).</param>
/// <param name="Step">The 0-based index of the wrong step (hallucinated_step, wrong_answer).</param>
/// <param name="Shown">The value the rationale states at that step.</param>
/// <param name="Correct">The right value at that step.</param>
/// <param name="Chars">The rationale's length in characters (the verbose teacher's flaw is its length).</param>
public sealed record RationaleTruth(string Flaw, int? Step, int? Shown, int? Correct, int Chars)
{
    public const string None = "none", HallucinatedStep = "hallucinated_step", NoReasoning = "no_reasoning", WrongAnswer = "wrong_answer";
}

/// <summary>One scripted reply: the text and its ground truth.</summary>
public sealed record TeacherReply(string Text, RationaleTruth Truth);

/// <summary>The demo's scripted teachers, each with a known character. They read the problem from the prompt, solve
/// it exactly and write the solution in their own style, with their flaws planted at known places; the teach step
/// reaches them over HTTP like any other OpenAI-compatible teacher. A reply is a pure function of (teacher, prompt,
/// seed), so the demo recovers each rationale's ground truth by asking <see cref="Reply"/> again.</summary>
public sealed class ScriptedTeacher(string name, Func<Problem, Random, TeacherReply> write, double wrongAnswerRate = 0) : ICompletionBackend
{
    public string ModelId => name;
    public int ContextLength => 1 << 20;
    public int CountPromptTokens(CompletionRequest request) => 0;

    public CompletionResult Complete(CompletionRequest request, Action<string>? onDelta, CancellationToken ct)
    {
        var prompt = request.Messages?.LastOrDefault(m => m.Role == "user")?.Content ?? request.Prompt ?? "";
        var reply = Reply(prompt, request.Seed ?? 0);
        onDelta?.Invoke(reply.Text);
        return new CompletionResult(reply.Text, "stop", prompt.Length / 4, reply.Text.Length / 4);
    }

    /// <summary>The reply to a prompt: deterministic per (teacher, prompt, seed), so reruns and resumed runs see the same.</summary>
    public TeacherReply Reply(string prompt, long seed)
    {
        var p = World.Parse(prompt);
        var rng = new Random(Training.Seeds.Mix(World.StableHash(name + "\n" + prompt), seed));
        if (p is null) return new("I cannot read this problem.", new(RationaleTruth.None, null, null, null, 0));
        if (rng.NextDouble() < wrongAnswerRate)
        {
            // A slip in the last step: the final answer is wrong and the teach step will reject this rationale.
            var steps = p.Steps.ToList();
            var last = steps[^1];
            int wrong = last.After + 1 + rng.Next(3);
            steps[^1] = last with { After = wrong };
            var text = write(p with { Steps = steps }, rng).Text;
            return new(text, new(RationaleTruth.WrongAnswer, steps.Count - 1, wrong, last.After, text.Length));
        }
        return write(p, rng);
    }

    static string Verb(Step s) => s.Op switch
    {
        '+' => "adds", '-' => "takes away", '*' => s.Operand == 2 ? "doubles" : "triples", _ => "halves",
    };

    static TeacherReply Clean(string text) => new(text, new(RationaleTruth.None, null, null, null, text.Length));

    /// <summary>Concise generalist: one equation per step, then the result, in the student's own terse style.</summary>
    public static TeacherReply Concise(Problem p, Random rng) =>
        Clean(string.Join(" ", p.Steps.Select(s => s.Equation() + ".")) + $" So {p.Name} has {p.Answer} {p.Items}.");

    /// <summary>Verbose expert: right, but long and full of thinking words, far from the student's terse style.</summary>
    public static TeacherReply Verbose(Problem p, Random rng)
    {
        var sb = new StringBuilder();
        sb.Append(rng.Next(2) == 0 ? "Okay, let us work through this carefully. " : "Hmm, let me think step by step. ");
        sb.Append(CultureInfo.InvariantCulture, $"{p.Name} starts with {p.Start} {p.Items}. ");
        for (int i = 0; i < p.Steps.Count; i++)
        {
            var s = p.Steps[i];
            string lead = i == 0 ? "Then" : new[] { "Next", "After that", "Consequently" }[rng.Next(3)];
            sb.Append(CultureInfo.InvariantCulture, $"{lead}, the problem {Verb(s)} {s.Operand}, so we compute {s.Equation()}. ");
            if (rng.Next(3) == 0) sb.Append(CultureInfo.InvariantCulture, $"Wait, let me check: yes, {s.Equation()} is right. ");
        }
        sb.Append(CultureInfo.InvariantCulture, $"In summary, {p.Name} ends up with {p.Answer} {p.Items}.");
        return Clean(sb.ToString());
    }

    /// <summary>Noisy teacher: the concise style, but in 70% of the problems with two or more steps one intermediate
    /// result is wrong while the chain goes on from the right value, so the final answer still checks (a hallucinated
    /// step). The student knows every single-step fact from pre-training, so it can in principle notice.</summary>
    public static TeacherReply Noisy(Problem p, Random rng)
    {
        int bad = p.Steps.Count > 1 && rng.NextDouble() < 0.7 ? rng.Next(p.Steps.Count - 1) : -1;
        int shown = 0;
        if (bad >= 0)
        {
            int delta = (rng.Next(2) == 0 ? -1 : 1) * (1 + rng.Next(4));
            shown = p.Steps[bad].After + delta;
            if (shown < 0) shown = p.Steps[bad].After - delta;
        }
        var text = string.Join(" ", p.Steps.Select((s, i) => s.Equation(i == bad ? shown : null) + ".")) + $" So {p.Name} has {p.Answer} {p.Items}.";
        return bad < 0 ? Clean(text) : new(text, new(RationaleTruth.HallucinatedStep, bad, shown, p.Steps[bad].After, text.Length));
    }

    /// <summary>Shortcut teacher: the answer with no reasoning at all.</summary>
    public static TeacherReply Shortcut(Problem p, Random rng)
    {
        var text = rng.Next(2) == 0 ? $"{p.Answer}." : $"{p.Name} has {p.Answer}.";
        return new(text, new(RationaleTruth.NoReasoning, null, null, null, text.Length));
    }

    /// <summary>The four teachers of the demo, with the rate at which each gets a final answer wrong.</summary>
    public static IReadOnlyList<ScriptedTeacher> All() =>
    [
        new("concise", Concise, 0.05),
        new("verbose", Verbose, 0.05),
        new("noisy", Noisy, 0.10),
        new("shortcut", Shortcut, 0.05),
    ];

    public static readonly string[] Names = ["concise", "verbose", "noisy", "shortcut"];
}
