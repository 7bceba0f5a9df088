using Compact.Benchmarks;

namespace Compact.Eval;

/// <summary>One worked example shown before the question (few-shot prompting).</summary>
public sealed record Shot(string Question, string Answer);

/// <summary>One question as the answerer receives it: the item (for scripted answerers and grading) and the prompt
/// messages, independent of any chat format. <see cref="EvalPrompts.Messages"/> turns them into a system and a user
/// message for a given <see cref="Tokenization.ChatStyle"/>.</summary>
/// <param name="System">The instruction, sent as the system message.</param>
/// <param name="Shots">Few-shot examples, in order; empty for zero-shot.</param>
/// <param name="User">The question text (with its lettered options for multiple choice).</param>
public sealed record EvalQuestion(BenchItem Item, string? System, IReadOnlyList<Shot> Shots, string User);

/// <summary>Something that answers benchmark questions: a model (<see cref="ModelAnswerer"/>) or a script
/// (<see cref="ScriptedAnswerer"/>, for tests). Answers are free text, graded afterwards by
/// <see cref="Answers.AnswerCheck"/>.</summary>
public interface IAnswerer : IDisposable
{
    /// <summary>One completion per question, in the order given. The runner passes batches of at most its batch size.</summary>
    IReadOnlyList<string> Answer(IReadOnlyList<EvalQuestion> batch, CancellationToken ct = default);
}

/// <summary>An answerer that takes questions one by one, several in flight at once (a server): the runner keeps
/// <see cref="Concurrency"/> questions outstanding and writes each prediction the moment its reply arrives.</summary>
public interface IConcurrentAnswerer : IAnswerer
{
    int Concurrency { get; }

    /// <summary>Checks the setup (reachable, the model is served) before the first question; throws
    /// <see cref="CompactException"/> when it is wrong.</summary>
    Task CheckAsync(CancellationToken ct = default);

    /// <summary>The reply to one question. Throws <see cref="EndpointFailureException"/> when no reply came after every retry
    /// (the question is then left for the next run), <see cref="CompactException"/> for a setup error.</summary>
    Task<Reply> AnswerOneAsync(EvalQuestion question, CancellationToken ct);
}
