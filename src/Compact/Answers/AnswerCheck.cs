namespace Compact.Answers;

/// <summary>Entry point: grade an answer text, or validate a teacher rationale, for any <see cref="AnswerKind"/>.</summary>
public static class AnswerCheck
{
    public static IAnswerChecker For(AnswerKind kind) => kind switch
    {
        AnswerKind.Numeric => NumericChecker.Instance,
        AnswerKind.Math => MathChecker.Instance,
        AnswerKind.Choice => ChoiceChecker.Instance,
        AnswerKind.YesNo => YesNoChecker.Instance,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown AnswerKind."),
    };

    /// <summary>Extracts the final answer from <paramref name="answerText"/> (a model completion) and compares it
    /// with <paramref name="gold"/>. <paramref name="choices"/> are the option texts (A first) for Choice items.
    /// A non-default <paramref name="extraction"/> (numeric items) reads and scores the answer as
    /// lm-evaluation-harness does (<see cref="HarnessExtraction"/>).</summary>
    /// <exception cref="InvalidDataException">The gold answer cannot be read as <paramref name="kind"/>.</exception>
    public static AnswerResult Check(AnswerKind kind, string gold, string answerText, IReadOnlyList<string>? choices = null,
        Extraction extraction = Extraction.Default)
        => extraction == Extraction.Default ? For(kind).Check(gold, answerText, choices)
            : kind == AnswerKind.Numeric ? HarnessExtraction.Check(extraction, gold, answerText)
            : throw new InvalidDataException($"the {HarnessExtraction.Name(extraction)} extraction reads numbers; it does not apply to {kind} answers.");

    /// <summary><see cref="Check"/>'s verdict alone.</summary>
    public static bool IsCorrect(AnswerKind kind, string gold, string answerText, IReadOnlyList<string>? choices = null)
        => For(kind).Check(gold, answerText, choices).Correct;

    /// <summary>The final answer a teacher rationale arrives at, as written there; null when none is found.
    /// The same as the checker's <see cref="IAnswerChecker.Extract"/>, except for Numeric: free-form rationales
    /// often restate numbers after the result ("Therefore, it took 3 days to harvest 54 sacks."), so when no
    /// "####", "answer is" or \boxed{} is present, the number stated by the last concluding sentence
    /// (Therefore / Thus / So / Hence / In total ...) comes before the last number in the text.</summary>
    public static string? ExtractFinal(AnswerKind kind, string rationale, IReadOnlyList<string>? choices = null)
        => kind == AnswerKind.Numeric
            ? NumericChecker.ExtractWithSource(rationale, conclusionSentence: true).Answer
            : For(kind).Extract(rationale, choices);

    /// <summary>Grades a teacher rationale: its final answer (<see cref="ExtractFinal"/>) against the gold answer.</summary>
    public static AnswerResult CheckRationale(AnswerKind kind, string gold, string rationale, IReadOnlyList<string>? choices = null)
        => kind == AnswerKind.Numeric
            ? NumericChecker.CheckExtracted(gold, NumericChecker.ExtractWithSource(rationale, conclusionSentence: true))
            : For(kind).Check(gold, rationale, choices);

    /// <summary>Whether a teacher rationale is "valid" (its final answer checks against the gold answer);
    /// only valid rationales are kept for distillation.</summary>
    public static bool IsValidRationale(AnswerKind kind, string gold, string rationale, IReadOnlyList<string>? choices = null)
        => CheckRationale(kind, gold, rationale, choices).Correct;
}
