using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Distill;

/// <summary>Fusion weights β1 (MI adaptability), β2 (consensus), β3 (difficulty penalty) and temperature τ.
/// METHOD defaults 1.0 / 1.0 / 0.5 / 1.0; an ablation sets one β to 0.</summary>
public sealed record FusionWeights(double BetaMi = 1.0, double BetaCons = 1.0, double BetaPpl = 0.5, double Tau = 1.0);

/// <summary>One question's scores and the resulting weights, per teacher (branch).</summary>
public sealed record TeacherWeights(double[] Ppl, double[] Cons, double[] Mi, double[] ZPpl, double[] ZCons, double[] ZMi, double[] Logits, double[] Alpha);

/// <summary>The pure parts of COMPACT: z-scores, fusion, consensus, information gain, thinking-token mask and
/// grouped-query head expansion. Every formula is METHOD.md's; tests check them against hand computations.</summary>
public static class Compatibility
{
    public const double ZEps = 1e-4;

    /// <summary>Z(s)_k = (s_k − mean(s)) / (std(s) + 1e-4), unbiased std. K = 1 gives 0 (its weight is 1 anyway).</summary>
    public static double[] ZScore(IReadOnlyList<double> s)
    {
        int k = s.Count;
        if (k <= 1) return new double[k];
        double mean = s.Average();
        double var = s.Sum(x => (x - mean) * (x - mean)) / (k - 1);
        double denom = Math.Sqrt(var) + ZEps;
        return s.Select(x => (x - mean) / denom).ToArray();
    }

    public static double[] Softmax(IReadOnlyList<double> x)
    {
        double max = x.Max();
        var e = x.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    /// <summary>α = softmax((β1·Z(S_MI) + β2·Z(S_cons) − β3·Z(S_PPL)) / τ). A zero β drops its term entirely.</summary>
    public static TeacherWeights Fuse(double[] ppl, double[] cons, double[] mi, FusionWeights w)
    {
        int k = ppl.Length;
        if (cons.Length != k || mi.Length != k) throw new ArgumentException("score vectors must have one entry per teacher");
        if (w.Tau <= 0) throw new CompactException($"temperature τ must be positive (got {w.Tau}).");
        var zp = ZScore(ppl);
        var zc = ZScore(cons);
        var zm = ZScore(mi);
        var logits = new double[k];
        for (int i = 0; i < k; i++)
            logits[i] = ((w.BetaMi == 0 ? 0 : w.BetaMi * zm[i]) + (w.BetaCons == 0 ? 0 : w.BetaCons * zc[i]) - (w.BetaPpl == 0 ? 0 : w.BetaPpl * zp[i])) / w.Tau;
        var alpha = k == 1 ? [1.0] : Softmax(logits);
        return new TeacherWeights(ppl, cons, mi, zp, zc, zm, logits, alpha);
    }

    /// <summary>Uniform weights 1/K (the "direct average" baseline), with the scores it was given for logging.</summary>
    public static TeacherWeights Uniform(int k) =>
        new(new double[k], new double[k], new double[k], new double[k], new double[k], new double[k], new double[k], Enumerable.Repeat(1.0 / k, k).ToArray());

    /// <summary>Expands projected keys (K, KVH·D) to the query width (K, H·D) by head: KV head h serves query heads
    /// h·g … h·g+g−1, so feature (h_q·D + i) takes key feature ((h_q / g)·D + i), as attention itself does.</summary>
    public static Tensor ExpandKvByHead(Tensor k, int kvHeads, int headDim, int groups)
    {
        using var scope = NewDisposeScope();
        long n = k.shape[0];
        return k.view(n, kvHeads, headDim).repeat_interleave(groups, 1).reshape(n, kvHeads * groups * headDim).MoveToOuterDisposeScope();
    }

    /// <summary>The authors' code: every scalar feature repeated g times along the flat axis (feature c ← c / g).
    /// Differs from <see cref="ExpandKvByHead"/> whenever g > 1; kept for --reference-code replication.</summary>
    public static Tensor ExpandKvFlat(Tensor k, int groups) => k.repeat_interleave(groups, -1);

    /// <summary>S_cons(k) = Σ_j A_jk with A = rowsoftmax(Q Kᵀ / √d_q) and the diagonal zeroed after the softmax
    /// (incoming attention, degree centrality). q (K, d_q), k (K, d_q) already expanded.</summary>
    public static double[] Consensus(Tensor q, Tensor k)
    {
        using var scope = NewDisposeScope();
        long n = q.shape[0];
        var qf = q.to(ScalarType.Float64);
        var kf = k.to(ScalarType.Float64);
        var a = qf.matmul(kf.t()).div(Math.Sqrt(q.shape[1])).softmax(1);                       // (K, K), rows sum to 1
        a = a.masked_fill(torch.eye(n, dtype: ScalarType.Bool, device: a.device), 0.0);
        return a.sum(dim: 0).cpu().data<double>().ToArray();                                        // column sums
    }

    /// <summary>S_MI = (1/L) Σ_t m_t·max(0, l_t − l_{t−1}) over the L rationale positions, with ΔI = 0 at the first.</summary>
    public static double InformationGain(IReadOnlyList<double> l, IReadOnlyList<double> m)
    {
        if (l.Count != m.Count) throw new ArgumentException("one weight per position");
        if (l.Count == 0) return 0;
        double s = 0;
        for (int t = 1; t < l.Count; t++) s += m[t] * Math.Max(0, l[t] - l[t - 1]);
        return s / l.Count;
    }

    /// <summary>The authors' code: the same positive gains weighted by m_t, summed without 1/L.</summary>
    public static double InformationGainSum(IReadOnlyList<double> l, IReadOnlyList<double> m)
    {
        double s = 0;
        for (int t = 1; t < l.Count; t++) s += m[t] * Math.Max(0, l[t] - l[t - 1]);
        return s;
    }

    public static readonly IReadOnlyList<string> DefaultThinkingWords =
    [
        "Therefore", "Thus", "Hence", "So", "Consequently", "Wait", "But", "However", "Although", "First", "Second", "Finally",
        "Specifically", "In summary", "Basically", "Let", "Assuming", "Suppose", "Hmm", "Okay", "Note",
    ];

    /// <summary>Marks tokens that are part of a thinking word or phrase, matched as whole words in the decoded text
    /// (so "So" matches in "So," and " So" but not in "Sort"), whatever the number of tokens the word takes.</summary>
    public static bool[] ThinkingMask(IReadOnlyList<string> pieces, IReadOnlyList<string> words)
    {
        var mask = new bool[pieces.Count];
        if (words.Count == 0 || pieces.Count == 0) return mask;
        var starts = new int[pieces.Count + 1];
        for (int i = 0; i < pieces.Count; i++) starts[i + 1] = starts[i] + pieces[i].Length;
        var text = string.Concat(pieces);
        var alternation = string.Join("|", words.OrderByDescending(w => w.Length).Select(w => Regex.Escape(w).Replace("\\ ", "\\s+")));
        var rx = new Regex($@"(?<![\p{{L}}\p{{N}}_])(?:{alternation})(?![\p{{L}}\p{{N}}_])", RegexOptions.CultureInvariant);
        foreach (Match mt in rx.Matches(text))
        {
            int a = mt.Index, b = mt.Index + mt.Length;
            // Tokens whose character span overlaps [a, b).
            int first = Array.BinarySearch(starts, a);
            first = first >= 0 ? first : ~first - 1;
            for (int i = Math.Max(0, first); i < pieces.Count && starts[i] < b; i++)
                if (starts[i + 1] > a) mask[i] = true;
        }
        return mask;
    }

    /// <summary>m_t: 1.0 on thinking tokens, 0.1 elsewhere.</summary>
    public static double[] ThinkingWeights(bool[] mask, double on = 1.0, double off = 0.1) => mask.Select(x => x ? on : off).ToArray();
}
