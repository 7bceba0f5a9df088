using TorchSharp;
using static TorchSharp.torch;
using Compact.Models;

namespace Compact.Training;

/// <summary>Sequences padded on the right to the longest in the batch. Ids (B, T) int64, Attention (B, T) int64,
/// Target (B, T) bool: the tokens the loss is taken on.</summary>
public sealed record PaddedBatch(Tensor Ids, Tensor Attention, Tensor Target) : IDisposable
{
    public static PaddedBatch Right(IReadOnlyList<IReadOnlyList<int>> seqs, IReadOnlyList<bool[]> targets, int padId, Device device)
    {
        int b = seqs.Count, t = seqs.Max(s => s.Count);
        var ids = new long[b * t];
        var att = new long[b * t];
        var tgt = new bool[b * t];
        for (int r = 0; r < b; r++)
        {
            for (int j = 0; j < t; j++)
            {
                bool real = j < seqs[r].Count;
                ids[r * t + j] = real ? seqs[r][j] : padId;
                att[r * t + j] = real ? 1 : 0;
                tgt[r * t + j] = real && targets[r][j];
            }
        }
        return new PaddedBatch(torch.tensor(ids, [b, t], device: device), torch.tensor(att, [b, t], device: device),
            torch.tensor(tgt, [b, t], device: device));
    }

    public void Dispose() { Ids.Dispose(); Attention.Dispose(); Target.Dispose(); }
}

/// <summary>How a batch's sequences are laid into rows.</summary>
public enum BatchLayout
{
    /// <summary>One sequence per row, right-padded to the longest.</summary>
    Padded,
    /// <summary>Sequences back to back in as few rows as fit (by default one), each with positions from 0 and
    /// attention inside itself only (block-diagonal causal attention), so that no position is spent on padding.</summary>
    Packed,
    /// <summary>Packed, and the sequences of a group (the K branches of a question) share their common first tokens
    /// (the prompt): laid once, each branch's own tokens after it with positions continuing from it and attention to
    /// it and to themselves, so the prompt is computed once instead of K times.</summary>
    Shared,
}

/// <summary>Sequences laid into (B, T) rows, padded, packed or packed with shared prefixes, and where each one lies:
/// position p of sequence s is column <see cref="Col"/>(s, p) of row Row[s] (its own tokens start at Start[s]; with a
/// shared prefix, its first PrefixLength[s] positions are the group's prefix at PrefixStart[s]). Every layout gives
/// every sequence the same hidden states (the same positions, the same visible keys); callers address sequences,
/// never rows.</summary>
public sealed class SequenceBatch : IDisposable
{
    public BatchLayout Layout { get; }
    /// <summary>(B, T) int64.</summary>
    public Tensor Ids { get; }
    /// <summary>Padded: (B, T) int64, 1 for tokens. Null when packed.</summary>
    public Tensor? Attention { get; }
    /// <summary>Packed: (B, T) position within its sequence, and where each sequence lies (attention stays inside it).</summary>
    public Tensor? Positions { get; }
    public IReadOnlyList<Segment>? Segments { get; }
    public IReadOnlyList<int> Row { get; }
    public IReadOnlyList<int> Start { get; }
    public IReadOnlyList<int> Length { get; }
    /// <summary>Shared: the leading positions of sequence s that lie in its group's prefix (0: none), and where.</summary>
    public IReadOnlyList<int> PrefixLength { get; }
    public IReadOnlyList<int> PrefixStart { get; }
    public int Rows { get; }
    public int Width { get; }
    /// <summary>The per-sequence tokens and target flags, as given.</summary>
    public IReadOnlyList<IReadOnlyList<int>> Sequences { get; }
    public IReadOnlyList<bool[]> Targets { get; }
    /// <summary>Tokens of the sequences, each counted as if alone.</summary>
    public long RealTokens => Length.Sum(x => (long)x);
    /// <summary>Positions computed, padding included: Rows × Width.</summary>
    public long SlotTokens => (long)Rows * Width;
    public int Count => Length.Count;

    /// <summary>The column of position p of sequence s (in row Row[s]).</summary>
    public int Col(int s, int p) => p < PrefixLength[s] ? PrefixStart[s] + p : Start[s] + p - PrefixLength[s];

    SequenceBatch(BatchLayout layout, Tensor ids, Tensor? attention, Tensor? positions, IReadOnlyList<Segment>? segments,
        int[] row, int[] start, int[] length, int[] prefixStart, int[] prefixLength, int rows, int width,
        IReadOnlyList<IReadOnlyList<int>> sequences, IReadOnlyList<bool[]> targets)
    {
        Layout = layout; Ids = ids; Attention = attention; Positions = positions; Segments = segments;
        Row = row; Start = start; Length = length; PrefixStart = prefixStart; PrefixLength = prefixLength; Rows = rows; Width = width;
        Sequences = sequences; Targets = targets;
    }

    /// <param name="rowCapacity">Packed: the longest a row may grow (at least the longest sequence; default: all in one row).</param>
    /// <param name="groups">Shared: the group of each sequence; a group of two or more shares the longest prefix its
    /// sequences have in common (each keeping at least one token of its own), laid once with its members' own tokens
    /// after it in the same row (a group is never split across rows).</param>
    public static SequenceBatch Create(BatchLayout layout, IReadOnlyList<IReadOnlyList<int>> seqs, IReadOnlyList<bool[]> targets,
        int padId, Device device, int? rowCapacity = null, IReadOnlyList<int>? groups = null)
    {
        int n = seqs.Count;
        if (n == 0) throw new ArgumentException("a batch needs at least one sequence");
        if (layout == BatchLayout.Shared && (groups is null || groups.Count != n))
            throw new ArgumentException("the shared layout needs one group per sequence");
        var length = seqs.Select(q => q.Count).ToArray();
        var row = new int[n];
        var start = new int[n];
        var prefixStart = new int[n];
        var prefixLength = new int[n];
        int rows, width;
        // Units laid into rows: a shared group (its prefix, then each member's own tokens) or one sequence.
        var units = new List<(int[] Members, int Prefix, int Size)>();
        if (layout == BatchLayout.Shared)
        {
            foreach (var g in Enumerable.Range(0, n).GroupBy(s => groups![s]))
            {
                var m = g.ToArray();
                int p = m.Length < 2 ? 0 : CommonPrefix(m.Select(s => seqs[s]).ToList());
                if (p == 0) units.AddRange(m.Select(s => (new[] { s }, 0, length[s])));
                else units.Add((m, p, p + m.Sum(s => length[s] - p)));
            }
        }
        else units.AddRange(Enumerable.Range(0, n).Select(s => (new[] { s }, 0, length[s])));

        var unitRow = new int[units.Count];
        var unitStart = new int[units.Count];
        if (layout == BatchLayout.Padded)
        {
            for (int u = 0; u < units.Count; u++) unitRow[u] = u;
            rows = n; width = length.Max();
        }
        else
        {
            // First-fit decreasing: the longest units first, each into the first row with room.
            int cap = Math.Max(units.Max(x => x.Size), rowCapacity ?? units.Sum(x => x.Size));
            var bins = DataOrder.FirstFitDecreasing(units.Select(x => x.Size).ToList(), cap);
            width = 0;
            for (int r = 0; r < bins.Length; r++)
            {
                int at = 0;
                foreach (int u in bins[r]) { unitRow[u] = r; unitStart[u] = at; at += units[u].Size; }
                width = Math.Max(width, at);
            }
            rows = bins.Length;
        }
        var ids = Enumerable.Repeat((long)padId, rows * width).ToArray();
        var att = new long[rows * width];
        var pos = new long[rows * width];
        var segments = new List<Segment>();
        var segmentOf = new int[n];
        for (int u = 0; u < units.Count; u++)
        {
            var (members, p, _) = units[u];
            int at = unitStart[u], prefixSegment = -1;
            if (p > 0)
            {
                prefixSegment = segments.Count;
                segments.Add(new Segment(unitRow[u], at, p));
                for (int j = 0; j < p; j++)
                {
                    int c = unitRow[u] * width + at + j;
                    ids[c] = seqs[members[0]][j]; pos[c] = j; att[c] = 1;
                }
                at += p;
            }
            foreach (int s in members)
            {
                row[s] = unitRow[u]; start[s] = at; prefixStart[s] = unitStart[u]; prefixLength[s] = p;
                segmentOf[s] = segments.Count;
                segments.Add(new Segment(unitRow[u], at, length[s] - p, Prefix: prefixSegment));
                for (int j = p; j < length[s]; j++)
                {
                    int c = unitRow[u] * width + at + j - p;
                    ids[c] = seqs[s][j]; att[c] = 1; pos[c] = j;
                }
                at += length[s] - p;
            }
        }
        Tensor T(long[] a) => torch.tensor(a, [rows, width], device: device);
        return layout == BatchLayout.Padded
            ? new SequenceBatch(layout, T(ids), T(att), null, null, row, start, length, prefixStart, prefixLength, rows, width, seqs, targets)
            : new SequenceBatch(layout, T(ids), null, T(pos), segments, row, start, length, prefixStart, prefixLength, rows, width, seqs, targets);
    }

    /// <summary>The number of leading tokens every sequence has in common, leaving each at least one of its own.</summary>
    public static int CommonPrefix(IReadOnlyList<IReadOnlyList<int>> seqs)
    {
        int max = seqs.Min(q => q.Count) - 1, p = 0;
        while (p < max && seqs.All(q => q[p] == seqs[0][p])) p++;
        return p;
    }

    /// <summary>The model's forward pass over the rows.</summary>
    public DecoderOutput Forward(CausalLM model) => Layout == BatchLayout.Padded
        ? model.Forward(Ids, Attention)
        : model.Forward(Ids, positionIds: Positions, segments: Segments);

    /// <summary>hidden (B, T, D) at position p[i] of sequence s[i]: (n, D).</summary>
    public Tensor At(Tensor hidden, IReadOnlyList<int> seqs, IReadOnlyList<int> positions)
    {
        using var scope = NewDisposeScope();
        var rows = torch.tensor(seqs.Select(s => (long)Row[s]).ToArray(), device: hidden.device);
        var cols = torch.tensor(seqs.Select((s, i) => (long)Col(s, positions[i])).ToArray(), device: hidden.device);
        return Pick(hidden, rows, cols).MoveToOuterDisposeScope();
    }

    /// <summary>hidden (B, T, D) at (rows[i], cols[i]): (n, D), as an index_select of the flattened positions, whose
    /// gradient is summed one index after another: the same batch gives the same gradient bits every time. Advanced
    /// indexing (hidden.index(rows, cols)) back-propagates through index_put_ with accumulation, which libtorch runs
    /// with atomic adds on several CPU threads once it writes 32,768 elements or more; with a shared prefix several target
    /// positions read the same hidden state, and their gradients summed in a varying order made runs drift apart.</summary>
    public static Tensor Pick(Tensor hidden, Tensor rows, Tensor cols)
    {
        using var scope = NewDisposeScope();
        long t = hidden.shape[1];
        return hidden.reshape(-1, hidden.shape[2]).index_select(0, rows.mul(t).add(cols)).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Ids.Dispose(); Attention?.Dispose(); Positions?.Dispose();
    }
}
