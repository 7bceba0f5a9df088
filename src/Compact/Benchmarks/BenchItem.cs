using Compact.Answers;

namespace Compact.Benchmarks;

/// <summary>One evaluation question, whatever file it came from.</summary>
/// <param name="Id">Stable identifier ("gsm8k/0", SVAMP "chal-1", CSQA's id, ...).</param>
/// <param name="Question">The question text, without the options (those are in <paramref name="Choices"/>).</param>
/// <param name="Gold">The gold answer in the form <see cref="AnswerCheck"/> expects for <paramref name="Kind"/>:
/// a number ("2125"), a LaTeX answer, a letter ("B"), or "yes"/"no".</param>
/// <param name="Choices">Option texts, A first, for Choice items; null otherwise.</param>
/// <param name="Subject">Category, when the file gives one: MATH subject, SVAMP type, GPQA subdomain, CSQA concept.</param>
/// <param name="Level">MATH difficulty level ("1".."5"), when known.</param>
/// <param name="GoldSolution">A worked reference solution, when the benchmark has one (GSM8K, MATH).</param>
/// <param name="Extraction">How the answer is read from a completion (numeric items: lm-evaluation-harness's
/// strict-match or flexible-extract; `compact eval --extraction`).</param>
public sealed record BenchItem(
    string Id,
    string Question,
    string Gold,
    AnswerKind Kind,
    IReadOnlyList<string>? Choices = null,
    string? Subject = null,
    string? Level = null,
    string? GoldSolution = null,
    Extraction Extraction = Extraction.Default);
