using System.Text;
using System.Text.RegularExpressions;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Tokenization;

namespace Compact.Eval;

/// <summary>How a benchmark item becomes a prompt: the instruction (system message), the question text with lettered
/// options, few-shot examples with worked answers, and their layout for a chat format.</summary>
public static partial class EvalPrompts
{
    /// <summary>The default instruction per answer kind; each asks for the final answer in the form its checker reads
    /// first ("The answer is: N", \boxed{}, "The answer is (X)").</summary>
    public static string DefaultInstruction(AnswerKind kind) => kind switch
    {
        AnswerKind.Numeric => "Solve the problem step by step and end with 'The answer is: N', where N is the final number.",
        AnswerKind.Math => "Solve the problem step by step and put the final answer in \\boxed{}.",
        AnswerKind.Choice => "Answer the multiple-choice question. Think step by step, then end with 'The answer is (X)', where X is the letter of the correct option.",
        AnswerKind.YesNo => "Answer the question with yes or no. Think step by step, then end with 'The answer is: yes' or 'The answer is: no'.",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The item's default instruction: lm-evaluation-harness's strict-match reads "The answer is N" (no colon),
    /// so numeric items scored that way are asked for exactly that.</summary>
    public static string DefaultInstruction(BenchItem item) =>
        item.Kind == AnswerKind.Numeric && item.Extraction != Extraction.Default
            ? "Solve the problem step by step and end with 'The answer is N.', where N is the final number."
            : DefaultInstruction(item.Kind);

    /// <summary>The question as shown to the model; multiple-choice options follow as "A. text" lines.</summary>
    public static string QuestionText(BenchItem item)
    {
        if (item.Choices is not { Count: > 0 } choices) return item.Question.Trim();
        var sb = new StringBuilder(item.Question.Trim()).Append("\n\nOptions:");
        for (int i = 0; i < choices.Count; i++) sb.Append('\n').Append(ChoiceChecker.LetterOf(i)).Append(". ").Append(choices[i]);
        return sb.ToString();
    }

    /// <summary>A worked answer for a few-shot example, ending the way the default instruction asks:
    /// GSM8K's solution without its &lt;&lt;calculator&gt;&gt; notes and with "#### N" as "The answer is: N"; a MATH
    /// solution as written (it holds \boxed{}); otherwise the reference solution, if any, then "The answer is …".</summary>
    public static string ShotAnswer(BenchItem item)
    {
        var solution = item.GoldSolution?.Trim();
        if (item.Kind == AnswerKind.Math && solution is not null && TextScan.LastBoxed(solution) is not null) return solution;
        if (item.Kind == AnswerKind.Numeric && solution is not null && solution.Contains("####", StringComparison.Ordinal))
        {
            var body = CalculatorNote().Replace(solution[..solution.LastIndexOf("####", StringComparison.Ordinal)], "").TrimEnd();
            return item.Extraction == Extraction.Default ? $"{body}\nThe answer is: {item.Gold}" : $"{body}\nThe answer is {item.Gold}.";
        }
        var final = item.Kind switch
        {
            AnswerKind.Math => $"The answer is $\\boxed{{{item.Gold}}}$.",
            AnswerKind.Choice => $"The answer is ({item.Gold}).",
            AnswerKind.Numeric when item.Extraction != Extraction.Default => $"The answer is {item.Gold}.",
            _ => $"The answer is: {item.Gold}",
        };
        return string.IsNullOrEmpty(solution) ? final : $"{solution}\n{final}";
    }

    /// <summary>The question with its instruction and few-shot examples; <paramref name="instruction"/> null takes the
    /// kind's default, "" sends no system message.</summary>
    public static EvalQuestion Build(BenchItem item, string? instruction, IReadOnlyList<BenchItem> shots)
    {
        var system = instruction ?? DefaultInstruction(item);
        return new EvalQuestion(item, system.Length == 0 ? null : system,
            shots.Select(s => new Shot(QuestionText(s), ShotAnswer(s))).ToList(), QuestionText(item));
    }

    /// <summary>The system and user messages for <paramref name="style"/>. ChatFormat renders one exchange, so few-shot
    /// examples are text, not earlier turns: with a chat template they open the user message as "Question: …\nAnswer: …"
    /// blocks followed by "Question: {question}"; with the Plain format (which already frames the prompt as
    /// "{system}\n\nQuestion: {user}\nAnswer:") they close the system part, so a base model sees one uniform transcript.</summary>
    public static (string? System, string User) Messages(ChatStyle style, EvalQuestion q)
    {
        if (q.Shots.Count == 0) return (q.System, q.User);
        var blocks = string.Join("\n\n", q.Shots.Select(s => $"Question: {s.Question}\nAnswer: {s.Answer}"));
        if (style == ChatStyle.Plain)
            return (string.IsNullOrEmpty(q.System) ? blocks : $"{q.System}\n\n{blocks}", q.User);
        return (q.System, $"{blocks}\n\nQuestion: {q.User}");
    }

    [GeneratedRegex(@"<<[^<>]*>>")]
    private static partial Regex CalculatorNote();
}
