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
}

/// <summary>Sequences laid into (B, T) rows, padded or packed, and where each one lies: sequence s occupies row
/// Row[s], columns Start[s] … Start[s] + Length[s] − 1. The padded and packed layouts give every sequence the same
/// hidden states (the same positions, the same visible keys); callers address sequences, never rows.</summary>
public sealed class SequenceBatch : IDisposable
{
    public BatchLayout Layout { get; }
    /// <summary>(B, T) int64.</summary>
    public Tensor Ids { get; }
    /// <summary>(B, T) bool: the tokens the loss is taken on.</summary>
    public Tensor Target { get; }
    /// <summary>Padded: (B, T) int64, 1 for tokens. Null when packed.</summary>
    public Tensor? Attention { get; }
    /// <summary>Packed: (B, T) position within its sequence, and where each sequence lies (attention stays inside it).</summary>
    public Tensor? Positions { get; }
    public IReadOnlyList<Segment>? Segments { get; }
    public IReadOnlyList<int> Row { get; }
    public IReadOnlyList<int> Start { get; }
    public IReadOnlyList<int> Length { get; }
    public int Rows { get; }
    public int Width { get; }
    /// <summary>The per-sequence target flags, as given.</summary>
    public IReadOnlyList<bool[]> Targets { get; }
    public long RealTokens => Length.Sum(x => (long)x);
    /// <summary>Positions computed, padding included: Rows × Width.</summary>
    public long SlotTokens => (long)Rows * Width;
    public int Count => Length.Count;

    SequenceBatch(BatchLayout layout, Tensor ids, Tensor target, Tensor? attention, Tensor? positions, IReadOnlyList<Segment>? segments,
        int[] row, int[] start, int[] length, int rows, int width, IReadOnlyList<bool[]> targets)
    {
        Layout = layout; Ids = ids; Target = target; Attention = attention; Positions = positions; Segments = segments;
        Row = row; Start = start; Length = length; Rows = rows; Width = width; Targets = targets;
    }

    /// <param name="rowCapacity">Packed: the longest a row may grow (at least the longest sequence; default: all in one row).</param>
    public static SequenceBatch Create(BatchLayout layout, IReadOnlyList<IReadOnlyList<int>> seqs, IReadOnlyList<bool[]> targets,
        int padId, Device device, int? rowCapacity = null)
    {
        int n = seqs.Count;
        if (n == 0) throw new ArgumentException("a batch needs at least one sequence");
        var length = seqs.Select(q => q.Count).ToArray();
        var row = new int[n];
        var start = new int[n];
        int rows, width;
        if (layout == BatchLayout.Padded)
        {
            for (int s = 0; s < n; s++) row[s] = s;
            rows = n; width = length.Max();
        }
        else
        {
            // First-fit decreasing: the longest sequences first, each into the first row with room.
            int cap = Math.Max(length.Max(), rowCapacity ?? length.Sum());
            var fill = new List<int>();
            foreach (int s in Enumerable.Range(0, n).OrderByDescending(s => length[s]).ThenBy(s => s))
            {
                int r = fill.FindIndex(f => f + length[s] <= cap);
                if (r < 0) { r = fill.Count; fill.Add(0); }
                row[s] = r; start[s] = fill[r]; fill[r] += length[s];
            }
            rows = fill.Count; width = fill.Max();
        }
        var ids = Enumerable.Repeat((long)padId, rows * width).ToArray();
        var tgt = new bool[rows * width];
        var att = new long[rows * width];
        var pos = new long[rows * width];
        for (int s = 0; s < n; s++)
            for (int j = 0; j < length[s]; j++)
            {
                int at = row[s] * width + start[s] + j;
                ids[at] = seqs[s][j]; tgt[at] = targets[s][j]; att[at] = 1; pos[at] = j;
            }
        Tensor T(long[] a) => torch.tensor(a, [rows, width], device: device);
        var target = torch.tensor(tgt, [rows, width], device: device);
        return layout == BatchLayout.Padded
            ? new SequenceBatch(layout, T(ids), target, T(att), null, null, row, start, length, rows, width, targets)
            : new SequenceBatch(layout, T(ids), target, null, T(pos), Enumerable.Range(0, n).Select(q => new Segment(row[q], start[q], length[q])).ToList(),
                row, start, length, rows, width, targets);
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
        var cols = torch.tensor(seqs.Select((s, i) => (long)(Start[s] + positions[i])).ToArray(), device: hidden.device);
        return hidden.index(rows, cols).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Ids.Dispose(); Target.Dispose(); Attention?.Dispose(); Positions?.Dispose();
    }
}
