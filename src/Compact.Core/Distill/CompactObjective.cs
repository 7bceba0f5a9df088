using Compact.Models;
using Compact.Tokenization;
using Compact.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Distill;

public enum MiEstimator { Probe, Exact, Reference }

/// <summary>Where the three scores come from. Train (default): the training forward pass itself, LoRA dropout exactly
/// as in training (the consensus projections included), so the probe estimator costs nothing extra. Eval: a separate
/// dropout-free, no-grad pass over the same batch before the training pass, for deterministic weights. `compact
/// score` runs the same pass with the model in training mode (Train) or evaluation mode (Eval).</summary>
public enum ScoreMode { Train, Eval }

/// <summary>COMPACT's settings (METHOD defaults).</summary>
public sealed record CompactOptions
{
    public FusionWeights Fusion { get; init; } = new();
    /// <summary>λ, the weight of the consistency loss.</summary>
    public double Lambda { get; init; } = 0.1;
    public MiEstimator Estimator { get; init; } = MiEstimator.Probe;
    /// <summary>exact estimator: score every s-th rationale position (and the last).</summary>
    public int ExactStride { get; init; } = 1;
    /// <summary>exact estimator: continuations evaluated per batched pass.</summary>
    public int ExactBatch { get; init; } = 16;
    public IReadOnlyList<string> ThinkingWords { get; init; } = Compatibility.DefaultThinkingWords;
    /// <summary>Reproduce the authors' code: flat GQA expansion, all-position KL, raw-logit MI summed over the padded sequence.</summary>
    public bool ReferenceCode { get; init; }
    /// <summary>Consistency pairs with α_iα_j below this are skipped.</summary>
    public double PairThreshold { get; init; } = 1e-4;
    public ScoreMode ScoreMode { get; init; } = ScoreMode.Train;
    /// <summary>How a step's branches are laid out: shared (default: packed, each question's common prompt computed once),
    /// packed (no compute on padding) or padded; the math is the same. --reference-code and the reference estimator
    /// always pad (they read padding positions).</summary>
    public BatchLayout Layout { get; init; } = BatchLayout.Shared;

    public static BatchLayout ParseLayout(string s) => s.ToLowerInvariant() switch
    {
        "packed" => BatchLayout.Packed,
        "padded" => BatchLayout.Padded,
        "shared" => BatchLayout.Shared,
        _ => throw new CompactException($"unknown --batch-layout '{s}'; use packed, shared or padded."),
    };

    public static ScoreMode ParseScoreMode(string s) => s.ToLowerInvariant() switch
    {
        "train" => ScoreMode.Train,
        "eval" => ScoreMode.Eval,
        _ => throw new CompactException($"unknown --score-mode '{s}'; use train or eval."),
    };

    public static MiEstimator ParseEstimator(string s) => s.ToLowerInvariant() switch
    {
        "probe" => MiEstimator.Probe,
        "exact" => MiEstimator.Exact,
        "reference" => MiEstimator.Reference,
        _ => throw new CompactException($"unknown --estimator '{s}'; use probe, exact or reference."),
    };
}

/// <summary>How a question's branch weights are chosen.</summary>
public enum WeightMode
{
    /// <summary>α from the student's compatibility scores (COMPACT).</summary>
    Compact,
    /// <summary>α = 1/K; scores are not computed.</summary>
    Uniform,
}

/// <summary>l_t along one branch's rationale: Positions are rationale-token indices (0 = first rationale token) of the
/// values in L; Thinking and Pieces cover every rationale token; Gain is S_MI (METHOD: MI adaptability).</summary>
public sealed record MiTrajectory(int[] Positions, double[] L, bool[] Thinking, IReadOnlyList<string> Pieces, double Gain);

/// <summary>The result for one question: the loss to back-propagate (null when only scoring), its parts, the
/// scores and weights, the number of target tokens, and its record for the logs.</summary>
public sealed record QuestionOutcome(Tensor? Loss, double SftPart, double ConsPart, TeacherWeights Weights, long Tokens, QuestionRecord Log);

/// <summary>One question's K branches through the student in one batch: per-branch SFT losses, the
/// three compatibility scores from the same forward (the exact MI estimator adds no-grad passes), fusion into α,
/// and L = Σ α_k L_SFT(k) + λ Σ_{i&lt;j} α_i α_j D(i, j) with α treated as a constant. METHOD.md throughout.</summary>
public sealed class CompactObjective(CausalLM model, HfTokenizer tokenizer, CompactOptions options)
{
    public CompactOptions Options => options;

    /// <summary>Scores and weights only (`compact score`), no gradient, with the model in training mode (LoRA dropout
    /// on, as a training step computes them) for ScoreMode.Train or in evaluation mode for ScoreMode.Eval.</summary>
    public QuestionOutcome Score(QuestionBranches qb)
    {
        bool wasTraining = model.training;
        model.train(options.ScoreMode == ScoreMode.Train);
        try { return Run(qb, WeightMode.Compact, withLoss: false); }
        finally { model.train(wasTraining); }
    }

    /// <param name="consistencyWeight">Overrides α_iα_j·λ for a pair (MCC-KD uses a constant); null: λ·α_iα_j.</param>
    public QuestionOutcome Run(QuestionBranches qb, WeightMode mode, bool withLoss, Func<int, int, double>? consistencyWeight = null)
    {
        var (loss, outcomes) = RunMany([qb], mode, withLoss, consistencyWeight);
        return outcomes[0] with { Loss = loss };
    }

    /// <summary>Several questions in one batch (all their branches, packed or padded): each question is weighted and
    /// scored on its own sequences exactly as alone; the returned loss is the mean of the questions' losses.</summary>
    public (Tensor? Loss, IReadOnlyList<QuestionOutcome> Outcomes) RunMany(IReadOnlyList<QuestionBranches> qs, WeightMode mode, bool withLoss,
        Func<int, int, double>? consistencyWeight = null)
    {
        using var scope = NewDisposeScope();
        using var batch = Layout(qs);

        // --score-mode eval: all three scores from a dropout-free no-grad pass of their own, before the training pass.
        List<TeacherWeights>? weights = null;
        if (withLoss && mode == WeightMode.Compact && options.ScoreMode == ScoreMode.Eval)
        {
            bool wasTraining = model.training;
            model.eval();
            try
            {
                using var noGrad = torch.no_grad();
                using var f = batch.Forward(model);
                using var l = Losses.TargetLogProbs(model, f.Hidden, batch);
                weights = Weigh(qs, mode, f.Hidden, l, batch);
            }
            finally { model.train(wasTraining); }
        }

        using var grad = withLoss ? null : torch.no_grad();
        var fwd = batch.Forward(model);
        var lp = Losses.TargetLogProbs(model, fwd.Hidden, batch);
        var countsAll = lp.Counts.cpu().data<float>().ToArray();
        weights ??= Weigh(qs, mode, fwd.Hidden, lp, batch);

        Tensor? total = null;
        var outcomes = new List<QuestionOutcome>();
        int offset = 0;
        for (int qi = 0; qi < qs.Count; qi++)
        {
            var qb = qs[qi];
            int k = qb.K, o0 = offset;
            offset += k;
            var branches = qb.Branches;
            var w = weights[qi];

            double sftPart = 0, consPart = 0;
            if (withLoss)
            {
                // Each branch's log-probabilities (answer span, or every position with --reference-code), computed once
                // for all the pairs it is in.
                var dist = new Tensor?[k];
                Tensor Dist(int r) => dist[r] ??= options.ReferenceCode
                    ? model.Logits(fwd.Hidden[batch.Row[o0 + r]]).to(ScalarType.Float32).log_softmax(-1)                  // (T, V)
                    : lp.FullLogProbs(lp.Predicting(o0 + r, branches[r].AnswerStart - 1, branches[r].AnswerEnd - 2));    // (G, V)
                Tensor D(int i, int j) => options.ReferenceCode
                    ? Losses.SymmetricKl(Dist(i), Dist(j), batch.Attention![batch.Row[o0 + i]].mul(batch.Attention[batch.Row[o0 + j]]))
                    : Losses.SymmetricKl(Dist(i), Dist(j));
                double PairWeight(int i, int j) => consistencyWeight?.Invoke(i, j)
                    ?? (w.Alpha[i] * w.Alpha[j] < options.PairThreshold ? 0 : options.Lambda * w.Alpha[i] * w.Alpha[j]);
                var (q, sft, cons) = QuestionLoss(lp.MeanNll.narrow(0, o0, k), w.Alpha, PairWeight, D);
                sftPart = sft.item<float>();
                consPart = cons?.item<float>() ?? 0;
                total = total is null ? q : total.add(q);
            }
            long tokens = (long)countsAll[o0..(o0 + k)].Sum();
            var log = Record(qb, w, mode == WeightMode.Compact && k > 1 ? options.ScoreMode.ToString().ToLowerInvariant() : null);
            outcomes.Add(new QuestionOutcome(null, sftPart, consPart, w, tokens, log));
        }
        var loss = total?.div(qs.Count).MoveToOuterDisposeScope();
        fwd.Dispose();
        lp.Dispose();
        return (loss, outcomes);
    }

    /// <summary>METHOD: L = Σ_k α_k L_SFT(k) + Σ_{i&lt;j} w_ij D(i, j), α constants (no gradient), w_ij = λ α_i α_j
    /// (or MCC-KD's constant); pairs of weight 0 are not computed. meanNll (K): each branch's mean target NLL.
    /// Returns the loss, its SFT part and its consistency part (null when no pair counts).</summary>
    public static (Tensor Loss, Tensor Sft, Tensor? Cons) QuestionLoss(Tensor meanNll, IReadOnlyList<double> alpha,
        Func<int, int, double> pairWeight, Func<int, int, Tensor> divergence)
    {
        var a = torch.tensor(alpha.Select(x => (float)x).ToArray(), device: meanNll.device);
        var sft = meanNll.mul(a).sum();
        Tensor? cons = null;
        for (int i = 0; i < alpha.Count; i++)
            for (int j = i + 1; j < alpha.Count; j++)
            {
                double pw = pairWeight(i, j);
                if (pw == 0) continue;
                var term = divergence(i, j).mul(pw);
                cons = cons is null ? term : cons.add(term);
            }
        return (cons is null ? sft : sft.add(cons), sft, cons);
    }

    /// <summary>The batch of the questions' branches, in order: shared or packed (all in one row, attention inside each
    /// branch and, shared, the question's prompt laid once), or padded with
    /// --reference-code or the reference estimator (whose MI and KL read padding positions).</summary>
    SequenceBatch Layout(IReadOnlyList<QuestionBranches> qs)
    {
        var all = qs.SelectMany(q => q.Branches).ToList();
        var layout = options.ReferenceCode || options.Estimator == MiEstimator.Reference ? BatchLayout.Padded : options.Layout;
        return SequenceBatch.Create(layout, all.Select(b => b.Encoded.Ids).ToList(), all.Select(b => b.Encoded.IsTarget).ToList(),
            tokenizer.PadId, model.Device, groups: qs.SelectMany((q, i) => Enumerable.Repeat(i, q.K)).ToList());
    }

    /// <summary>Every question's scores and weights from one pass over the batch (hidden states and target
    /// log-probabilities of all branches); scores only for COMPACT weights with K &gt; 1.</summary>
    List<TeacherWeights> Weigh(IReadOnlyList<QuestionBranches> qs, WeightMode mode, Tensor hidden, TokenLogProbs lp, SequenceBatch batch)
    {
        var pplAll = lp.MeanNll.detach().cpu().data<float>().Select(x => (double)x).ToArray();
        var list = new List<TeacherWeights>();
        int o0 = 0;
        foreach (var qb in qs)
        {
            int k = qb.K;
            var branches = qb.Branches;
            var ppl = pplAll[o0..(o0 + k)];
            if (mode == WeightMode.Uniform || k == 1)
                list.Add(Compatibility.Uniform(k) with { Ppl = ppl });
            else
            {
                double[] cons, mi;
                using (torch.no_grad())
                {
                    int first = o0;
                    cons = Consensus(batch.At(hidden, Enumerable.Range(first, k).ToList(), branches.Select(b => b.Length - 1).ToList()));
                    // The authors' micro-batch is one question padded to its own longest branch: their summed MI
                    // covers those padding positions, so each question here sees exactly its own padding.
                    int tq = branches.Max(b => b.Length);
                    mi = options.Estimator switch
                    {
                        MiEstimator.Probe => Enumerable.Range(0, k).Select(r => ProbeMi(lp, first + r, branches[r], qb.ProbeIds)).ToArray(),
                        MiEstimator.Exact => branches.Select(b => ExactMi(b, qb.ProbeIds)).ToArray(),
                        _ => ReferenceMi(PaddedRows(hidden, batch, first, k, tq), PaddedRows(batch.Ids, batch, first, k, tq), qb.ProbeIds),
                    };
                }
                list.Add(Compatibility.Fuse(ppl, cons, mi, options.Fusion));
            }
            o0 += k;
        }
        return list;
    }

    /// <summary>A question's scores and weights as logged (rounded to 6 decimals).</summary>
    static QuestionRecord Record(QuestionBranches qb, TeacherWeights w, string? scoreMode) => new()
    {
        Id = qb.Question.Id, Teachers = qb.Branches.Select(b => b.Teacher).ToList(),
        SPpl = Nums(w.Ppl), SCons = Nums(w.Cons), SMi = Nums(w.Mi), ZPpl = Nums(w.ZPpl), ZCons = Nums(w.ZCons), ZMi = Nums(w.ZMi),
        Fused = Nums(w.Logits), Alpha = Nums(w.Alpha), ScoreMode = scoreMode,
    };

    static double[] Nums(IEnumerable<double> xs) => xs.Select(x => Math.Round(x, 6)).ToArray();

    /// <summary>Rows first … first+k−1 of a padded batch, cut to width t (the reference estimator reads padding).</summary>
    static Tensor PaddedRows(Tensor x, SequenceBatch batch, int first, int k, int t) => batch.Layout == BatchLayout.Padded
        ? x.narrow(0, first, k).narrow(1, 0, t)
        : throw new InvalidOperationException("the reference estimator needs the padded layout");


    /// <summary>S_cons from each branch's last hidden state e (K, D), projected by the last layer's q_proj / k_proj
    /// (LoRA and biases included, LoRA dropout as the model's mode has it: on in a training pass, as in the
    /// authors' code), K/V heads expanded by head (flat with --reference-code).</summary>
    double[] Consensus(Tensor last)
    {
        using var scope = NewDisposeScope();
        var e = last.detach();                                                             // (K, D)
        var attn = model.Layers[^1].self_attn;
        var q = attn.q_proj.call(e);                                                      // (K, H·d)
        var kk = attn.k_proj.call(e);                                                     // (K, KVH·d)
        var c = model.Config;
        var kExp = options.ReferenceCode ? Compatibility.ExpandKvFlat(kk, c.KvGroups) : Compatibility.ExpandKvByHead(kk, c.NumKvHeads, c.HeadDim, c.KvGroups);
        return Compatibility.Consensus(q, kExp);
    }

    // A branch's tokens never change, so neither does its thinking-token mask: computed once per branch.
    readonly System.Runtime.CompilerServices.ConditionalWeakTable<Branch, bool[]> _thinking = new();

    bool[] Thinking(Branch b) => _thinking.GetValue(b, x =>
        Compatibility.ThinkingMask(tokenizer.DecodePieces(x.Encoded.Ids.Skip(x.RationaleStart).Take(x.RationaleEnd - x.RationaleStart)), options.ThinkingWords));

    /// <summary>probe: l_t = mean_j log softmax(W_U h_t)[y_j] at every rationale position, from the training forward.</summary>
    double ProbeMi(TokenLogProbs lp, int s, Branch b, IReadOnlyList<int> answerIds) =>
        Compatibility.InformationGain(ProbeL(lp, s, b, answerIds), Compatibility.ThinkingWeights(Thinking(b)));

    /// <summary>The probe's l_t for the rationale positions t of sequence s: log-probability rows for
    /// [RationaleStart, RationaleEnd), columns y_j, mean over j.</summary>
    static double[] ProbeL(TokenLogProbs lp, int s, Branch b, IReadOnlyList<int> answerIds)
    {
        using var scope = NewDisposeScope();
        var rows = lp.Predicting(s, b.RationaleStart, b.RationaleEnd - 1);
        var y = torch.tensor(answerIds.Select(x => (long)x).ToArray(), device: lp.Hidden.device);
        return lp.ColumnLogProbs(rows, y).mean([1]).cpu().data<float>().Select(x => (double)x).ToArray();
    }

    /// <summary>The information-gain trajectory of one branch (the paper's Figure 9): l_t at its rationale positions
    /// under the current model, by the probe (one no-grad forward of the branch) or, with the exact estimator, the
    /// teacher-forced answer after every s-th position; with the thinking-token mask and S_MI. The reference
    /// estimator has no per-position trajectory of its own and falls back to the probe.</summary>
    public MiTrajectory Trajectory(Branch b, IReadOnlyList<int> probeIds)
    {
        var think = Thinking(b);
        var pieces = tokenizer.DecodePieces(b.Encoded.Ids.Skip(b.RationaleStart).Take(b.RationaleEnd - b.RationaleStart));
        if (options.Estimator == MiEstimator.Exact)
        {
            var (ts, lx) = ExactTrajectory(b, probeIds);
            return new MiTrajectory(ts.Select(t => t - b.RationaleStart).ToArray(), lx, think, pieces, ExactGain(b, ts, lx));
        }
        using var scope = NewDisposeScope();
        using var grad = torch.no_grad();
        using var batch = SequenceBatch.Create(BatchLayout.Padded, [b.Encoded.Ids], [b.Encoded.IsTarget], tokenizer.PadId, model.Device);
        using var fwd = batch.Forward(model);
        using var lp = Losses.TargetLogProbs(model, fwd.Hidden, batch);
        var l = ProbeL(lp, 0, b, probeIds);
        return new MiTrajectory(Enumerable.Range(0, l.Length).ToArray(), l, think, pieces,
            Compatibility.InformationGain(l, Compatibility.ThinkingWeights(think)));
    }

    /// <summary>exact: l_t = mean_j log P(y_j | x, r≤t, answer lead-in, y&lt;j), the answer suffix teacher-forced after
    /// every s-th rationale position, in batched passes that reuse the prefix's key/value cache.</summary>
    double ExactMi(Branch b, IReadOnlyList<int> probeIds)
    {
        var (ts, l) = ExactTrajectory(b, probeIds);
        return ExactGain(b, ts, l);
    }

    /// <summary>S_MI from the exact estimator's l_t at the sampled positions ts.</summary>
    double ExactGain(Branch b, List<int> ts, double[] l)
    {
        // Thinking weight of a sampled position: 1.0 if a thinking token lies in its stride window.
        var think = Thinking(b);
        var m = new double[ts.Count];
        for (int i = 0; i < ts.Count; i++)
        {
            int from = i == 0 ? ts[0] : ts[i - 1] + 1;
            bool any = false;
            for (int t = from; t <= ts[i]; t++) any |= think[t - b.RationaleStart];
            m[i] = any ? 1.0 : 0.1;
        }
        return Compatibility.InformationGain(l, m);
    }

    /// <summary>The exact estimator's l_t at the sampled rationale positions t.</summary>
    internal (List<int> Positions, double[] L) ExactTrajectory(Branch b, IReadOnlyList<int> probeIds)
    {
        using var scope = NewDisposeScope();
        var ids = b.Encoded.Ids;
        int stride = Math.Max(1, options.ExactStride);
        var ts = Enumerable.Range(b.RationaleStart, b.RationaleEnd - b.RationaleStart).Where(t => (t - b.RationaleStart) % stride == 0).ToList();
        if (ts[^1] != b.RationaleEnd - 1) ts.Add(b.RationaleEnd - 1);
        // Continuation for position t: token t itself (recomputed, its state predicts what follows), then the
        // suffix lead-in and the answer. Keys before t come from the cache.
        var suffix = ids.Skip(b.RationaleEnd).Take(b.AnswerEnd - b.RationaleEnd).ToList();
        int aOff = b.AnswerStart - b.RationaleEnd;                 // index of the first answer token in the suffix
        int prefixLen = b.RationaleEnd - 1;                        // cache holds positions 0 … RationaleEnd-2
        using var cache = new KvCache(model.Config.NumLayers, prefixLen + 1);
        using (var pre = torch.tensor(ids.Take(prefixLen).Select(x => (long)x).ToArray(), [1, prefixLen], device: model.Device))
            model.Forward(pre, cache: cache).Dispose();
        var l = new double[ts.Count];
        var answer = b.AnswerIds;
        var y = answer.Select(x => (long)x).ToArray();
        // Average over the tokens that carry the answer (as the probe does); whitespace tokens are only forced.
        var keep = torch.tensor(answer.Select(id => probeIds.Contains(id) ? 1f : 0f).ToArray(), device: model.Device);
        var keepCount = keep.sum();
        var yIndex = torch.tensor(y, device: model.Device).view(1, -1, 1);                         // (1, G, 1)
        for (int c0 = 0; c0 < ts.Count; c0 += options.ExactBatch)
        {
            using var inner = NewDisposeScope();
            var chunk = ts.Skip(c0).Take(options.ExactBatch).ToList();
            int n = chunk.Count, s = 1 + suffix.Count;
            using var rep = cache.Repeat(n);
            var input = new long[n * s];
            var pos = new long[n * s];
            var mask = new long[n * (prefixLen + s)];
            for (int i = 0; i < n; i++)
            {
                int t = chunk[i];
                input[i * s] = ids[t];
                for (int u = 0; u < suffix.Count; u++) input[i * s + 1 + u] = suffix[u];
                for (int u = 0; u < s; u++) pos[i * s + u] = t + u;
                for (int j = 0; j < prefixLen + s; j++) mask[i * (prefixLen + s) + j] = j < prefixLen ? (j < t ? 1 : 0) : 1;
            }
            var o = model.Forward(torch.tensor(input, [n, s], device: model.Device), torch.tensor(mask, [n, prefixLen + s], device: model.Device),
                rep, torch.tensor(pos, [n, s], device: model.Device));
            // Input index i predicts suffix[i]; answer token j is suffix[aOff + j].
            var h = o.Hidden.narrow(1, aOff, y.Length);                                             // (n, G, D)
            var logp = model.Logits(h).to(ScalarType.Float32).log_softmax(-1);                      // (n, G, V)
            var lt = logp.gather(2, yIndex.expand(n, y.Length, 1)).squeeze(2).mul(keep).sum(1).div(keepCount).cpu().data<float>().ToArray();
            for (int i = 0; i < n; i++) l[c0 + i] = lt[i];
            o.Dispose();
        }
        return (ts, l);
    }

    HashSet<long>? _refThinkIds;

    /// <summary>reference (the authors' code): l_t = mean_j h_t·W_U[y_j] (raw logits) at every position of the padded
    /// sequence, ΔI_0 = 0 at position 0, m_t from single-token thinking ids at position t, summed without 1/L.</summary>
    double[] ReferenceMi(Tensor hidden, Tensor ids, IReadOnlyList<int> answerIds)
    {
        using var scope = NewDisposeScope();
        _refThinkIds ??= options.ThinkingWords.SelectMany(wd => new[] { wd, " " + wd })
            .Select(wd => tokenizer.Encode(wd)).Where(t => t.Count == 1).Select(t => (long)t[0]).ToHashSet();
        var y = torch.tensor(answerIds.Select(x => (long)x).ToArray(), device: hidden.device);
        var wy = model.OutputWeight.index_select(0, y).to(ScalarType.Float32);                  // (G, D)
        var l = hidden.to(ScalarType.Float32).matmul(wy.t()).mean([-1]).cpu();                 // (K, T)
        var idsCpu = ids.cpu();
        int k = (int)l.shape[0], t = (int)l.shape[1];
        var lv = l.data<float>().ToArray();
        var iv = idsCpu.data<long>().ToArray();
        return Enumerable.Range(0, k).Select(r => Compatibility.InformationGainSum(
            lv.Skip(r * t).Take(t).Select(x => (double)x).ToList(),
            Compatibility.ThinkingWeights(iv.Skip(r * t).Take(t).Select(_refThinkIds.Contains).ToArray()))).ToArray();
    }
}
