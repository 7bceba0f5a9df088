using System.Text.Json.Nodes;
using Compact.IO;
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
        var lines = new List<JsonObject>();
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
        AtomicFile.WriteAllText(outPath, string.Concat(lines.Select(l => l.ToJsonString(Compact.Util.Jsonl.Options) + "\n")));
        return Summarize(lines);
    }

    public static IReadOnlyList<TeacherSummary> Summarize(IEnumerable<JsonObject> logs)
    {
        var acc = new Dictionary<string, List<(double A, bool Win, double P, double C, double M)>>();
        foreach (var l in logs)
        {
            var ts = l["teachers"]!.AsArray().Select(x => x!.GetValue<string>()).ToList();
            double[] V(string key) => l[key]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
            var a = V("alpha");
            var (p, c, m) = (V("s_ppl"), V("s_cons"), V("s_mi"));
            double max = a.Max();
            for (int i = 0; i < ts.Count; i++)
            {
                if (!acc.TryGetValue(ts[i], out var list)) acc[ts[i]] = list = new();
                list.Add((a[i], ts.Count > 1 && a[i] == max, p[i], c[i], m[i]));
            }
        }
        return acc.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new TeacherSummary(kv.Key, kv.Value.Count,
            kv.Value.Average(x => x.A), kv.Value.Count(x => x.Win) / (double)kv.Value.Count, kv.Value.Average(x => x.P),
            kv.Value.Average(x => x.C), kv.Value.Average(x => x.M))).ToList();
    }

    public static readonly string[] Headers = ["teacher", "questions", "mean α", "highest α", "S_PPL", "S_cons", "S_MI"];

    public static IEnumerable<IReadOnlyList<string>> Rows(IEnumerable<TeacherSummary> s) => s.Select(t => (IReadOnlyList<string>)
        [t.Teacher, t.Questions.ToString(Inv), t.MeanAlpha.ToString("0.000", Inv), t.WinRate.ToString("P0", Inv), t.MeanPpl.ToString("0.000", Inv),
         t.MeanCons.ToString("0.000", Inv), t.MeanMi.ToString("0.0000", Inv)]);

    static readonly System.Globalization.CultureInfo Inv = System.Globalization.CultureInfo.InvariantCulture;
}
