using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using Compact.Models;

namespace Compact.Training;

/// <summary>Token cross-entropy that never holds the (N, V) logits: rows go through the output projection in chunks of
/// about 4M logits (16 MB in float32, below glibc's mmap threshold), each chunk's log-sum-exp and target logit are kept, and backward recomputes each chunk's logits to
/// form (softmax − one-hot)·W. With a 150k vocabulary this saves gigabytes and the page faults of allocating them.
/// Gradients flow to the hidden states and, when it is trainable (full fine-tuning), to the output weight.</summary>
public sealed class ChunkedCrossEntropy : autograd.SingleTensorFunction<ChunkedCrossEntropy>
{
    public override string Name => nameof(ChunkedCrossEntropy);

    /// <summary>Carries the log-sum-exp out of forward. (A second output would need TorchSharp to materialise its
    /// missing gradient from a cached tensor that the caller's dispose scope has already freed.)</summary>
    sealed class LseBox { public Tensor? Value; }

    public static int ChunkRows(long n, long vocab) => (int)Math.Clamp((4L << 20) / Math.Max(1, vocab), 1, Math.Max(1, n));

    /// <summary>(nll (N), lse (N)) in float32 for hidden (N, D), output weight (V, D) and labels (N).</summary>
    public static (Tensor Nll, Tensor Lse) Apply(Tensor hidden, Tensor weight, Tensor labels)
    {
        var box = new LseBox();
        var nll = apply(hidden, weight, labels, box);
        return (nll, box.Value!);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var h = (Tensor)vars[0];
        var w = (Tensor)vars[1];
        var y = (Tensor)vars[2];
        var box = (LseBox)vars[3];
        long n = h.shape[0];
        int chunk = ChunkRows(n, w.shape[0]);
        var nll = torch.empty(n, dtype: ScalarType.Float32, device: h.device);
        var lse = torch.empty(n, dtype: ScalarType.Float32, device: h.device);
        for (long s = 0; s < n; s += chunk)
        {
            using var scope = NewDisposeScope();
            long c = Math.Min(chunk, n - s);
            var logits = F.linear(h.narrow(0, s, c), w).to(ScalarType.Float32);        // (c, V)
            var l = logits.logsumexp(-1);
            var t = logits.gather(1, y.narrow(0, s, c).unsqueeze(1)).squeeze(1);
            lse.narrow(0, s, c).copy_(l);
            nll.narrow(0, s, c).copy_(l.sub(t));
        }
        ctx.save_for_backward([h, w, y, lse]);
        box.Value = lse.detach();
        return nll;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        var g = grad_output;
        var saved = ctx.get_saved_variables();
        Tensor h = saved[0], w = saved[1], y = saved[2], lse = saved[3];            // g: d loss / d nll (N)
        long n = h.shape[0];
        int chunk = ChunkRows(n, w.shape[0]);
        var gh = torch.zeros_like(h);
        Tensor? gw = w.requires_grad ? torch.zeros(w.shape, dtype: ScalarType.Float32, device: w.device) : null;
        for (long s = 0; s < n; s += chunk)
        {
            using var scope = NewDisposeScope();
            long c = Math.Min(chunk, n - s);
            var hc = h.narrow(0, s, c);
            // d nll / d logits = softmax − one-hot, scaled by the incoming gradient of each row.
            var p = F.linear(hc, w).to(ScalarType.Float32).sub_(lse.narrow(0, s, c).unsqueeze(1)).exp_();
            p.scatter_add_(1, y.narrow(0, s, c).unsqueeze(1), torch.full([c, 1], -1f, device: p.device));
            p.mul_(g.narrow(0, s, c).unsqueeze(1));
            gh.narrow(0, s, c).copy_(p.to(h.dtype).matmul(w));                        // (c, D)
            gw?.add_(p.t().matmul(hc.to(ScalarType.Float32)));                           // (V, D)
        }
        return [gh, gw is null ? null! : gw.to(w.dtype), null!, null!];
    }
}

/// <summary>Per-sequence token cross-entropy over target tokens, computing logits only where a target token is
/// predicted (the position before it), chunk by chunk (ChunkedCrossEntropy).</summary>
public static class Losses
{
    /// <summary>Per-row mean NLL (B), per-row target counts (B), and per-token NLL with the hidden states of the
    /// predicting positions, for callers that need more than the NLL. Each row is one sequence (right-padded).</summary>
    public static TokenLogProbs TargetLogProbs(CausalLM model, Tensor hidden, Tensor ids, Tensor target)
    {
        using var scope = NewDisposeScope();
        long t = ids.shape[1];
        var coords = target.narrow(1, 1, t - 1).nonzero();             // (N, 2) [row, p]: position p predicts token p+1
        var rows = coords.select(1, 0);
        var pos = coords.select(1, 1);
        return Gather(model, hidden, ids.index(rows, pos.add(1)), rows, pos, rows, ids.shape[0], null);
    }

    /// <summary>The same per sequence of a padded or packed batch: entry s of MeanNll and Counts is sequence s, and
    /// <see cref="TokenLogProbs.Predicting"/> finds a sequence's predicting positions among the N rows.</summary>
    public static TokenLogProbs TargetLogProbs(CausalLM model, Tensor hidden, SequenceBatch batch)
    {
        using var scope = NewDisposeScope();
        var rows = new List<long>();
        var cols = new List<long>();
        var labels = new List<long>();
        var seqOf = new List<long>();
        var map = new int[batch.Count][];
        for (int s = 0; s < batch.Count; s++)
        {
            var tg = batch.Targets[s];
            map[s] = Enumerable.Repeat(-1, batch.Length[s]).ToArray();
            for (int p = 0; p + 1 < batch.Length[s]; p++)
            {
                if (!tg[p + 1]) continue;
                map[s][p] = rows.Count;
                // With a shared prefix the next column need not hold this sequence's next token: label from the sequence.
                rows.Add(batch.Row[s]); cols.Add(batch.Col(s, p)); labels.Add(batch.Sequences[s][p + 1]); seqOf.Add(s);
            }
        }
        var dev = hidden.device;
        return Gather(model, hidden, torch.tensor(labels.ToArray(), device: dev), torch.tensor(rows.ToArray(), device: dev),
            torch.tensor(cols.ToArray(), device: dev), torch.tensor(seqOf.ToArray(), device: dev), batch.Count, map);
    }

    static TokenLogProbs Gather(CausalLM model, Tensor hidden, Tensor labels, Tensor rows, Tensor pos, Tensor seqOf, long sequences, int[][]? map)
    {
        var h = SequenceBatch.Pick(hidden, rows, pos);                // (N, D)
        var (nll, lse) = ChunkedCrossEntropy.Apply(h, model.OutputWeight, labels);
        var sums = torch.zeros(sequences, dtype: ScalarType.Float32, device: hidden.device).index_add(0, seqOf, nll, 1.0);
        var counts = torch.zeros(sequences, dtype: ScalarType.Float32, device: hidden.device).index_add(0, seqOf, torch.ones_like(nll), 1.0);
        var mean = sums.div(counts.clamp_min(1));
        return new TokenLogProbs(model, mean.MoveToOuterDisposeScope(), counts.MoveToOuterDisposeScope(), h.MoveToOuterDisposeScope(),
            lse.MoveToOuterDisposeScope(), nll.MoveToOuterDisposeScope()) { Map = map };
    }

    /// <summary>Symmetric KL, KL(P‖Q) + KL(Q‖P), summed over the vocabulary and averaged over positions, from
    /// log-probabilities (N, V) of two branches at aligned positions; with a mask (N), over the masked positions only.
    /// METHOD: consistency loss D(i, j).</summary>
    public static Tensor SymmetricKl(Tensor logP, Tensor logQ, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        var p = logP.exp();
        var q = logQ.exp();
        var kl = p.mul(logP.sub(logQ)).sum(-1).add(q.mul(logQ.sub(logP)).sum(-1));   // (N)
        if (mask is null) return kl.mean().MoveToOuterDisposeScope();
        var m = mask.to(ScalarType.Float32);
        return kl.mul(m).sum().div(m.sum().clamp_min(1)).MoveToOuterDisposeScope();
    }
}

/// <summary>The loss-side view of a forward pass: Hidden (N, D) are the states of the N predicting positions, Lse
/// their log-sum-exp over the vocabulary, Nll their target NLL; MeanNll and Counts per sequence.</summary>
public sealed record TokenLogProbs(CausalLM Model, Tensor MeanNll, Tensor Counts, Tensor Hidden, Tensor Lse, Tensor Nll)
    : IDisposable
{
    /// <summary>Map[s][p]: the index among the N rows of position p of sequence s (which predicts token p+1), −1 when
    /// p predicts no target. Set when built from a <see cref="SequenceBatch"/>.</summary>
    public int[][]? Map { get; init; }

    /// <summary>The row indices of positions from … to (inclusive) of sequence s, every one predicting a target: (n).</summary>
    public Tensor Predicting(int s, int from, int to)
    {
        var m = Map ?? throw new InvalidOperationException("these log-probabilities were not built from a SequenceBatch");
        var idx = new long[to - from + 1];
        for (int p = from; p <= to; p++)
            idx[p - from] = m[s][p] >= 0 ? m[s][p] : throw new InvalidOperationException($"position {p} of sequence {s} predicts no target token");
        return torch.tensor(idx, device: Hidden.device);
    }

    /// <summary>Full log-probability rows (with gradient) for the given predicting positions: (n, V).</summary>
    public Tensor FullLogProbs(Tensor index)
    {
        using var scope = NewDisposeScope();
        return Model.Logits(Hidden.index_select(0, index)).to(ScalarType.Float32).log_softmax(-1).MoveToOuterDisposeScope();
    }

    /// <summary>log p(col | position) for the given positions and vocabulary columns, without gradient: (n, c).</summary>
    public Tensor ColumnLogProbs(Tensor index, Tensor columns)
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        var h = Hidden.index_select(0, index).detach();
        var w = Model.OutputWeight.detach().index_select(0, columns);
        return F.linear(h, w).to(ScalarType.Float32).sub(Lse.index_select(0, index).unsqueeze(1)).MoveToOuterDisposeScope();
    }

    public void Dispose() { MeanNll.Dispose(); Counts.Dispose(); Hidden.Dispose(); Lse.Dispose(); Nll.Dispose(); }
}
