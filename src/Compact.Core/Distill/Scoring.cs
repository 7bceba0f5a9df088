using System.Globalization;
using Compact.IO;
using Compact.Training;
using Compact.Util;
using TorchSharp;

namespace Compact.Distill;

/// <summary>Per-teacher summary of compatibility over a dataset.</summary>
public sealed record TeacherSummary(string Teacher, int Questions, double MeanAlpha, double WinRate, double MeanPpl, double MeanCons, double MeanMi);

/// <summary>`compact score`: the scores and weights every question would get, without training.</summary>
public static class Scoring
{
    public static IReadOnlyList<TeacherSummary> Run(CompactObjective objective, IReadOnlyList<QuestionBranches> questions, string outPath,
        IProgressReporter progress, CancellationToken ct = default)
    {
        var lines = new List<QuestionRecord>();
        progress.Run("score", questions.Count, task =>
        {
            foreach (var qb in questions)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var o = objective.Score(qb);
                lines.Add(o.Log);
                task.Increment();
            }
        });
        AtomicFile.WriteAllText(outPath, string.Concat(lines.Select(l => System.Text.Json.JsonSerializer.Serialize(l, RunJson.Line) + "\n")));
        return Summarize(lines);
    }

    /// <summary>Per teacher over the questions it answered: mean α, how often its α was the question's highest (among
    /// two or more teachers), and the mean of each score.</summary>
    public static IReadOnlyList<TeacherSummary> Summarize(IEnumerable<QuestionRecord> records)
    {
        var acc = new Dictionary<string, List<(double A, bool Win, double P, double C, double M)>>();
        foreach (var l in records)
        {
            double max = l.Alpha.Max();
            for (int i = 0; i < l.Teachers.Count; i++)
            {
                if (!acc.TryGetValue(l.Teachers[i], out var list)) acc[l.Teachers[i]] = list = new();
                list.Add((l.Alpha[i], l.Teachers.Count > 1 && l.Alpha[i] == max, l.SPpl[i], l.SCons[i], l.SMi[i]));
            }
        }
        return acc.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new TeacherSummary(kv.Key, kv.Value.Count,
            kv.Value.Average(x => x.A), kv.Value.Count(x => x.Win) / (double)kv.Value.Count, kv.Value.Average(x => x.P),
            kv.Value.Average(x => x.C), kv.Value.Average(x => x.M))).ToList();
    }

    public static readonly string[] Headers = ["teacher", "questions", "mean α", "highest α", "S_PPL", "S_cons", "S_MI"];

    public static IEnumerable<IReadOnlyList<string>> Rows(IEnumerable<TeacherSummary> s) => s.Select(t => (IReadOnlyList<string>)
        [t.Teacher, t.Questions.ToString(CultureInfo.InvariantCulture), F(t.MeanAlpha, "0.000"), F(t.WinRate, "P0"), F(t.MeanPpl, "0.000"),
         F(t.MeanCons, "0.000"), F(t.MeanMi, "0.0000")]);

    static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
}
