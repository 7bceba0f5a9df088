using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Models;

/// <summary>Per-layer key/value buffers (B, KVH, capacity, D) filled left to right. Each forward writes its T
/// new positions after <see cref="Length"/>; the model advances Length once every layer has written.
/// Buffers live outside any dispose scope and grow by doubling.</summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor?[] _k, _v;
    public long Length { get; private set; }
    public int Layers => _k.Length;
    readonly long _initialCapacity;

    public KvCache(int layers, long initialCapacity = 256)
    {
        _k = new Tensor?[layers];
        _v = new Tensor?[layers];
        _initialCapacity = Math.Max(1, initialCapacity);
    }

    /// <summary>Writes (B, KVH, T, D) at [Length, Length+T) and returns views of [0, Length+T).</summary>
    public (Tensor k, Tensor v) Append(int layer, Tensor k, Tensor v)
    {
        long t = k.shape[2], need = Length + t;
        _k[layer] = Ensure(_k[layer], k, need);
        _v[layer] = Ensure(_v[layer], v, need);
        using (torch.no_grad())
        {
            _k[layer]!.narrow(2, Length, t).copy_(k);
            _v[layer]!.narrow(2, Length, t).copy_(v);
        }
        return (_k[layer]!.narrow(2, 0, need), _v[layer]!.narrow(2, 0, need));
    }

    Tensor Ensure(Tensor? buf, Tensor like, long need)
    {
        if (buf is not null && buf.shape[2] >= need) return buf;
        long cap = Math.Max(need, buf is null ? _initialCapacity : buf.shape[2] * 2);
        var fresh = torch.empty([like.shape[0], like.shape[1], cap, like.shape[3]], dtype: like.dtype, device: like.device)
            .DetachFromDisposeScope();
        if (buf is not null)
        {
            using (torch.no_grad()) fresh.narrow(2, 0, Length).copy_(buf.narrow(2, 0, Length));
            buf.Dispose();
        }
        return fresh;
    }

    /// <summary>Called by the model after all layers have appended T positions.</summary>
    public void Advance(long t) => Length += t;

    /// <summary>Forgets positions after `length` (their buffer space is reused by the next append).</summary>
    public void Truncate(long length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length));
        Length = length;
    }

    /// <summary>A new cache holding `times` copies of every row's first `length` positions, in row-major order
    /// (row r of the new cache is row r / times of this one).</summary>
    public KvCache Repeat(long times, long? length = null)
    {
        long len = length ?? Length;
        var c = new KvCache(Layers, len + 64);
        using (torch.no_grad())
        {
            for (int l = 0; l < Layers; l++)
            {
                if (_k[l] is null) continue;
                c._k[l] = _k[l]!.narrow(2, 0, len).repeat_interleave(times, 0).contiguous().DetachFromDisposeScope();
                c._v[l] = _v[l]!.narrow(2, 0, len).repeat_interleave(times, 0).contiguous().DetachFromDisposeScope();
            }
        }
        c.Length = len;
        return c;
    }

    /// <summary>Writes every layer of `part` (its first part.Length positions) into rows `rows` of this cache at
    /// positions [at, at + part.Length), allocating this cache's buffers (batch rows, zeros) on first use. Prompts
    /// prefilled apart are laid into one left-padded decoding batch this way; call <see cref="Advance"/> after.</summary>
    public void Place(KvCache part, IReadOnlyList<long> rows, long at, long batch)
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        for (int l = 0; l < Layers; l++)
        {
            var pk = part._k[l] ?? throw new InvalidOperationException("the part holds no keys for a layer");
            var pv = part._v[l]!;
            _k[l] ??= torch.zeros([batch, pk.shape[1], Math.Max(_initialCapacity, at + part.Length), pk.shape[3]], dtype: pk.dtype, device: pk.device).DetachFromDisposeScope();
            _v[l] ??= torch.zeros([batch, pv.shape[1], Math.Max(_initialCapacity, at + part.Length), pv.shape[3]], dtype: pv.dtype, device: pv.device).DetachFromDisposeScope();
            var idx = torch.tensor(rows.ToArray(), device: pk.device);
            _k[l]!.narrow(2, at, part.Length).index_copy_(0, idx, pk.narrow(2, 0, part.Length));
            _v[l]!.narrow(2, at, part.Length).index_copy_(0, idx, pv.narrow(2, 0, part.Length));
        }
    }

    public void Dispose()
    {
        for (int i = 0; i < _k.Length; i++) { _k[i]?.Dispose(); _v[i]?.Dispose(); _k[i] = _v[i] = null; }
    }
}
