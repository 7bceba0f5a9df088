using System.Text.Json.Nodes;
using Compact.Training;
using Compact.Util;

namespace Compact.Demo;

/// <summary>One branch of one question at one training step, as COMPACT scored and weighted it.</summary>
public sealed record ScoreRecord(int Step, string QuestionId, string Teacher, double Ppl, double Cons, double Mi, double Alpha);

/// <summary>How well one quantity separates clean rationales from flawed ones: the AUC, read the way α reads it (a
/// high S_MI or S_cons and a low S_PPL raise a teacher's weight), so 1 means the score always favours the clean
/// rationale, 0.5 that it cannot tell, and below 0.5 that it works backwards.</summary>
public sealed record Separation(string Flaw, string Score, double Auc, int Clean, int Flawed);

/// <summary>The score-validity diagnostic: against each rationale's ground truth (the noisy teacher's hallucinated
/// step, the shortcut teacher's missing reasoning), over every question and training step of the COMPACT runs, the AUC
/// of S_PPL, S_cons, S_MI and α, and the mean α per teacher over training.</summary>
public sealed record ScoreValidityReport(IReadOnlyList<Separation> Separations, IReadOnlyDictionary<string, double> MeanAlpha,
    IReadOnlyDictionary<string, IReadOnlyList<(int Step, double Alpha)>> AlphaCurves)
{
    public static readonly string[] Scores = ["s_ppl", "s_cons", "s_mi", "alpha"];
    public static readonly string[] Flaws = ["any_flaw", RationaleTruth.HallucinatedStep, RationaleTruth.NoReasoning];

    public double Auc(string flaw, string score) => Separations.Single(s => s.Flaw == flaw && s.Score == score).Auc;

    public JsonObject ToJson()
    {
        var auc = new JsonObject();
        foreach (var f in Flaws)
            auc[f] = new JsonObject(Scores.Select(sc => KeyValuePair.Create(sc,
                (JsonNode?)(Separations.Single(s => s.Flaw == f && s.Score == sc) is var x && double.IsNaN(x.Auc) ? null : Math.Round(x.Auc, 4)))));
        var counts = new JsonObject(Flaws.Select(f => KeyValuePair.Create(f, (JsonNode?)new JsonObject
        {
            ["clean"] = Separations.First(s => s.Flaw == f).Clean, ["flawed"] = Separations.First(s => s.Flaw == f).Flawed,
        })));
        return new JsonObject
        {
            ["auc"] = auc,
            ["auc_counts"] = counts,
            ["mean_alpha"] = new JsonObject(MeanAlpha.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Math.Round(kv.Value, 4)))),
            ["alpha_curves"] = new JsonObject(AlphaCurves.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray(
                kv.Value.Select(p => (JsonNode)new JsonArray(p.Step, Math.Round(p.Alpha, 4))).ToArray())))),
        };
    }
}

public static class ScoreValidity
{
    /// <summary>Every scored branch of a training run, from its metrics log (the per-question items CompactObjective
    /// logs with each step). The one place that reads that format.</summary>
    public static List<ScoreRecord> ReadScoreLog(string runDir)
    {
        var records = new List<ScoreRecord>();
        var path = Path.Combine(runDir, Engine.MetricsFile);
        if (!File.Exists(path)) return records;
        foreach (var (_, line) in Jsonl.Read(path, (_, _) => true))
        {
            if (line["items"] is not JsonArray items || line["step"] is null) continue;
            int step = line["step"]!.GetValue<int>();
            foreach (var node in items)
            {
                if (node is not JsonObject it || it["teachers"] is not JsonArray ts || it["alpha"] is not JsonArray al
                    || it["s_ppl"] is not JsonArray ppl || it["s_cons"] is not JsonArray cons || it["s_mi"] is not JsonArray mi) continue;
                var id = it["id"]!.GetValue<string>();
                for (int k = 0; k < ts.Count; k++)
                    records.Add(new ScoreRecord(step, id, ts[k]!.GetValue<string>(), Num(ppl[k]), Num(cons[k]), Num(mi[k]), Num(al[k])));
            }
        }
        return records;
        static double Num(JsonNode? n) => n is null ? double.NaN : n.GetValue<double>();
    }

    /// <summary>P(a random positive scores above a random negative) + ½ P(tie): the Mann–Whitney form of the AUC, from
    /// average ranks, O(n log n). NaN when either side is empty.</summary>
    public static double Auc(IReadOnlyList<double> positives, IReadOnlyList<double> negatives)
    {
        if (positives.Count == 0 || negatives.Count == 0) return double.NaN;
        var all = positives.Select(v => (V: v, Pos: true)).Concat(negatives.Select(v => (V: v, Pos: false))).OrderBy(x => x.V).ToList();
        double rankSumPos = 0;
        for (int i = 0; i < all.Count;)
        {
            int j = i;
            while (j < all.Count && all[j].V == all[i].V) j++;
            double avgRank = (i + 1 + j) / 2.0;                                 // ranks i+1 … j share their mean
            for (int k = i; k < j; k++) if (all[k].Pos) rankSumPos += avgRank;
            i = j;
        }
        double n1 = positives.Count, n0 = negatives.Count;
        return (rankSumPos - n1 * (n1 + 1) / 2) / (n1 * n0);
    }

    /// <summary>The diagnostic over the given runs' logs. Replay questions (the student's own text, not a teacher's) are
    /// left out; so are rationales without ground truth.</summary>
    public static ScoreValidityReport Analyse(IEnumerable<string> runDirs, IReadOnlyList<TruthRecord> truth)
    {
        var byKey = truth.ToDictionary(t => (t.QuestionId, t.Teacher), t => t.Truth.Flaw);
        var records = runDirs.SelectMany(ReadScoreLog)
            .Where(r => !r.QuestionId.StartsWith(WorldFiles.ReplayPrefix, StringComparison.Ordinal) && byKey.ContainsKey((r.QuestionId, r.Teacher)))
            .ToList();
        var seps = new List<Separation>();
        foreach (var flaw in ScoreValidityReport.Flaws)
        {
            bool IsFlawed(string f) => flaw == "any_flaw" ? f is RationaleTruth.HallucinatedStep or RationaleTruth.NoReasoning : f == flaw;
            var clean = records.Where(r => byKey[(r.QuestionId, r.Teacher)] == RationaleTruth.None).ToList();
            var flawed = records.Where(r => IsFlawed(byKey[(r.QuestionId, r.Teacher)])).ToList();
            foreach (var score in ScoreValidityReport.Scores)
            {
                // Oriented as α reads it: S_PPL (difficulty) enters the fusion with a minus sign.
                Func<ScoreRecord, double> get = score switch
                {
                    "s_ppl" => r => -r.Ppl, "s_cons" => r => r.Cons, "s_mi" => r => r.Mi, _ => r => r.Alpha,
                };
                seps.Add(new Separation(flaw, score, Auc(clean.Select(get).ToList(), flawed.Select(get).ToList()), clean.Count, flawed.Count));
            }
        }
        var mean = records.GroupBy(r => r.Teacher).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Average(r => r.Alpha));
        // α per teacher over training, in up to 20 bins of steps (mean over questions and seeds).
        int maxStep = records.Count == 0 ? 1 : records.Max(r => r.Step);
        int bin = Math.Max(1, (maxStep + 19) / 20);
        var curves = records.GroupBy(r => r.Teacher).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key,
            g => (IReadOnlyList<(int, double)>)g.GroupBy(r => (r.Step - 1) / bin).OrderBy(b => b.Key)
                .Select(b => (Math.Min(maxStep, (b.Key + 1) * bin), b.Average(r => r.Alpha))).ToList());
        return new ScoreValidityReport(seps, mean, curves);
    }
}
