using Compact.Tokenization;
using Compact.Training;

namespace Compact.Distill;

/// <summary>The fixed text every branch's target ends with. "{answer}" marks the gold answer; a space right
/// before it travels with the answer (so " 42" or " yes" keeps its natural tokenization).</summary>
public sealed record AnswerSuffix(string Template = AnswerSuffix.Default)
{
    public const string Default = "\n\nThe answer is: {answer}";

    /// <summary>(lead-in, answer part, rest) for a gold answer.</summary>
    public (string Lead, string Answer, string Tail) Split(string answer)
    {
        int at = Template.IndexOf("{answer}", StringComparison.Ordinal);
        if (at < 0) throw new CompactException($"--answer-suffix must contain {{answer}} (got \"{Template}\").");
        string lead = Template[..at], rest = Template[(at + "{answer}".Length)..];
        if (lead.EndsWith(' ')) return (lead[..^1], " " + answer, rest);
        return (lead, answer, rest);
    }
}

/// <summary>One teacher's branch of a question: the encoded chat sequence with the positions of its rationale
/// tokens [RationaleStart, RationaleEnd) and of the gold answer's tokens [AnswerStart, AnswerEnd).</summary>
public sealed record Branch(string Teacher, EncodedExample Encoded, int RationaleStart, int RationaleEnd, int AnswerStart, int AnswerEnd, bool Truncated)
{
    public int Length => Encoded.Ids.Count;
    public IReadOnlyList<int> AnswerIds => Encoded.Ids.Skip(AnswerStart).Take(AnswerEnd - AnswerStart).ToList();
}

/// <summary>A question with the branches that fit the context. AnswerIds are the gold answer's tokens as they end
/// every branch (the same in each); ProbeIds are those that carry the answer (whitespace-only tokens such as the
/// space before a number are left out), whose log-likelihood the MI estimators follow. Problem says why the
/// question cannot be trained on or scored (a branch whose answer span is empty or differs from the others'); such
/// questions are refused by `data check` and skipped with a count by `distill` and `score`.</summary>
public sealed record QuestionBranches(MtQuestion Question, IReadOnlyList<Branch> Branches, IReadOnlyList<int> AnswerIds, IReadOnlyList<int> ProbeIds, int Dropped)
{
    public int K => Branches.Count;
    public string? Problem { get; init; }
}

public static class BranchBuilder
{
    /// <summary>Drops a closing "The answer is: X" (the suffix's own lead-in followed by the gold answer) from a
    /// rationale, so that the appended suffix does not state the answer twice.</summary>
    public static string StripFinalStatement(string rationale, string lead, string answer)
    {
        var text = rationale.TrimEnd();
        var key = lead.Trim();
        if (key.Length == 0) return text;
        int i = text.LastIndexOf(key, StringComparison.Ordinal);
        if (i < 0) return text;
        var tail = text[(i + key.Length)..].Trim().TrimEnd('.', '!').Trim('*', '$', ' ');
        if (tail != answer.Trim() && tail.Replace("\\boxed{", "").TrimEnd('}') != answer.Trim()) return text;
        var head = text[..i].TrimEnd();
        return head.Length == 0 ? text : head;
    }

    /// <summary>Every question's branches (see <see cref="Build"/>).</summary>
    public static List<QuestionBranches> BuildAll(ChatFormat format, IEnumerable<MtQuestion> questions, AnswerSuffix suffix, int maxSeqLen,
        TruncationMode mode, string? system = null) =>
        questions.Select(q => Build(format, q, suffix, maxSeqLen, mode, system)).ToList();

    /// <summary>Only one teacher's branches (single-teacher training); questions that teacher did not answer keep K = 0.</summary>
    public static List<QuestionBranches> ForTeacher(IEnumerable<QuestionBranches> questions, string teacher) =>
        questions.Select(q => q with { Branches = q.Branches.Where(b => b.Teacher == teacher).ToList() }).ToList();

    /// <summary>Builds every branch of a question: chat prompt + rationale + suffix with the gold answer (with a
    /// think-block template the rationale is the reasoning and the suffix the answer after the block, see
    /// <see cref="ChatFormat.EncodeRationale"/>). A branch over maxSeqLen loses tokens from its rationale's start
    /// (TruncateStart) or is dropped (Drop). With <paramref name="referenceCode"/>, the authors' data instead (see
    /// <see cref="BuildReference"/>).</summary>
    public static QuestionBranches Build(ChatFormat format, MtQuestion q, AnswerSuffix suffix, int maxSeqLen, TruncationMode mode,
        string? system = null, Func<Rationale, bool>? keep = null, bool referenceCode = false)
    {
        if (referenceCode) return BuildReference(format, q, maxSeqLen, system, keep);
        var (lead, answer, rest) = suffix.Split(q.Answer);
        var branches = new List<Branch>();
        int dropped = 0;
        foreach (var r in q.Rationales)
        {
            if (keep is not null && !keep(r)) continue;
            var seg = format.EncodeRationale(system, q.Question, StripFinalStatement(r.Text, lead, q.Answer), [lead, answer, rest]);
            var e = seg.Example;
            int rStart = seg.PartStarts[0], rEnd = seg.PartEnds[0], excess = e.Ids.Count - maxSeqLen;
            bool truncated = excess > 0;
            if (truncated)
            {
                // Too long: drop it, or cut `excess` tokens from the rationale's start (keeping at least one).
                if (mode == TruncationMode.Drop || excess >= rEnd - rStart) { dropped++; continue; }
                var ids = e.Ids.Take(rStart).Concat(e.Ids.Skip(rStart + excess)).ToList();
                e = new EncodedExample(ids, e.AssistantStart, e.AssistantEnd - excess, e.TargetEnd - excess);
            }
            int cut = Math.Max(0, excess);
            if (rEnd - rStart <= 0) { dropped++; continue; }                    // a rationale with nothing in it
            var b = new Branch(r.Teacher, e, rStart, rEnd - cut, seg.PartStarts[2] - cut, seg.PartEnds[2] - cut, truncated);
            branches.Add(b);
        }
        var answerIds = branches.Count > 0 ? branches[0].AnswerIds : [];
        var problem = AnswerSpanProblem(q, branches);
        var probe = answerIds.Where(id => format.Tokenizer.Decode([id]).Trim().Length > 0).ToList();
        return new QuestionBranches(q, branches, answerIds, probe.Count > 0 ? probe : answerIds, dropped) { Problem = problem };
    }

    /// <summary>Why a question's branches cannot share one answer span (the consistency loss compares them and the
    /// MI estimators follow the question's answer ids): a branch whose span is empty, or whose span's tokens differ
    /// from the first branch's. Null when they agree.</summary>
    public static string? AnswerSpanProblem(MtQuestion q, IReadOnlyList<Branch> branches)
    {
        foreach (var b in branches)
        {
            if (b.AnswerEnd <= b.AnswerStart) return $"question {q.Id}: {b.Teacher}'s branch has an empty answer span";
            if (!b.AnswerIds.SequenceEqual(branches[0].AnswerIds)) return $"question {q.Id}: {b.Teacher}'s answer span differs from {branches[0].Teacher}'s";
        }
        return null;
    }

    /// <summary>The authors' data (--reference-code, alg/data.py): the chat template applied to the raw chain of
    /// thought (no answer suffix, no statement stripped), the loss on every token from the assistant's first one to
    /// the end of the sequence (the end-of-turn token and the newline the template puts after it), long sequences
    /// cut at the end, and the MI probe on <c>tokenizer(answer)</c>'s ids (the answer tokenized alone, no special
    /// tokens). There is no answer span: AnswerStart = AnswerEnd = the end of the assistant content.</summary>
    public static QuestionBranches BuildReference(ChatFormat format, MtQuestion q, int maxSeqLen, string? system = null, Func<Rationale, bool>? keep = null)
    {
        var branches = new List<Branch>();
        int dropped = 0;
        foreach (var r in q.Rationales)
        {
            if (keep is not null && !keep(r)) continue;
            var e = format.EncodeExample(system, q.Question, r.Text);
            bool truncated = e.Ids.Count > maxSeqLen;
            var ids = truncated ? e.Ids.Take(maxSeqLen).ToList() : e.Ids.ToList();
            if (ids.Count <= e.AssistantStart) { dropped++; continue; }                  // nothing of the answer survived
            int aEnd = Math.Min(e.AssistantEnd, ids.Count);
            var enc = new EncodedExample(ids, e.AssistantStart, aEnd, ids.Count);
            branches.Add(new Branch(r.Teacher, enc, e.AssistantStart, aEnd, aEnd, aEnd, truncated));
        }
        var gold = format.Tokenizer.Encode(q.Answer);
        return new QuestionBranches(q, branches, gold, gold, dropped)
        {
            Problem = gold.Count == 0 ? $"question {q.Id}: the answer \"{q.Answer}\" has no tokens" : null,
        };
    }
}
