using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Compact.Models;

// The shared blocks of every decoder family. Field names are Hugging Face state-dict keys
// (TorchSharp registers fields under their names), so checkpoints load by name with no remapping.

/// <summary>A LoRA update attached to a <see cref="Linear"/>: y += dropout(x) Aᵀ Bᵀ · alpha/r.
/// A is (r, in), B is (out, r). Not a registered submodule, so the base model's state dict keeps exactly
/// Hugging Face's keys; the adapter's own keys follow PEFT (Training/Lora.cs).</summary>
public sealed class LoraAdapter : IDisposable
{
    public Parameter A { get; }
    public Parameter B { get; }
    public int Rank { get; }
    public double Alpha { get; }
    public double Dropout { get; }
    public double Scaling => Alpha / Rank;
    /// <summary>When false the adapter is skipped (used to run the base model without detaching adapters).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Where dropout masks come from (shared by all adapters of a model).</summary>
    public DropoutStream Stream { get; }

    public LoraAdapter(Parameter a, Parameter b, double alpha, double dropout, DropoutStream stream)
    {
        A = a; B = b; Rank = (int)a.shape[0]; Alpha = alpha; Dropout = dropout; Stream = stream;
    }

    public Tensor Forward(Tensor x, bool training)
    {
        using var scope = NewDisposeScope();
        var h = training && Dropout > 0 ? Stream.Apply(x, Dropout) : x;
        // (…, in) → (…, r) → (…, out)
        var y = F.linear(F.linear(h.to(A.dtype), A), B).mul(Scaling).to(x.dtype);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>ΔW = B·A·scaling, shape (out, in), in float32.</summary>
    public Tensor DeltaWeight()
    {
        using var scope = NewDisposeScope();
        return B.to(ScalarType.Float32).matmul(A.to(ScalarType.Float32)).mul(Scaling).MoveToOuterDisposeScope();
    }

    public void Dispose() { A.Dispose(); B.Dispose(); }
}

/// <summary>Dropout whose masks are a pure function of (seed, position): mask n comes from a generator seeded
/// with hash(seed, n). Layer recomputation (gradient checkpointing) rewinds Position to replay the same masks,
/// and a resumed run restores it; this works the same on CPU and CUDA, without global RNG state.</summary>
public sealed class DropoutStream
{
    public long Seed { get; set; }
    public long Position { get; set; }

    public Tensor Apply(Tensor x, double p)
    {
        using var scope = NewDisposeScope();
        ulong s = unchecked((ulong)Seed * 0x9E3779B97F4A7C15UL + (ulong)Position++ * 0xBF58476D1CE4E5B9UL);
        using var gen = new Generator(s, x.device);
        var keep = torch.rand(x.shape, dtype: ScalarType.Float32, device: x.device, generator: gen).ge_(p);
        return x.mul(keep.to(x.dtype)).div_(1 - p).MoveToOuterDisposeScope();
    }
}

/// <summary>nn.Linear with HF keys `weight` (out, in) and optional `bias`, created uninitialised (the checkpoint
/// or an explicit initialiser fills it), and an optional LoRA adapter.</summary>
public sealed class Linear : nn.Module<Tensor, Tensor>
{
    public Parameter weight;
    public Parameter? bias;
    public LoraAdapter? Lora { get; set; }
    public long InFeatures { get; }
    public long OutFeatures { get; }

    public Linear(long inFeatures, long outFeatures, bool hasBias, ScalarType dtype, Device device) : base("Linear")
    {
        InFeatures = inFeatures; OutFeatures = outFeatures;
        weight = new Parameter(empty([outFeatures, inFeatures], dtype: dtype, device: device));
        if (hasBias) bias = new Parameter(empty([outFeatures], dtype: dtype, device: device));
        RegisterComponents();
    }

    /// <summary>The same projection with LoRA dropout off whatever the training mode (scores use it).</summary>
    public Tensor ForwardNoDropout(Tensor x) => Forward(x, dropout: false);

    public override Tensor forward(Tensor x) => Forward(x, training);

    Tensor Forward(Tensor x, bool dropout)
    {
        var y = F.linear(x, weight, bias);
        if (Lora is { Enabled: true } l)
        {
            using var d = l.Forward(x, dropout);
            return y.add_(d);
        }
        return y;
    }
}

/// <summary>Token embedding with HF key `weight` (vocab, hidden).</summary>
public sealed class Embedding : nn.Module<Tensor, Tensor>
{
    public Parameter weight;

    public Embedding(long vocab, long dim, ScalarType dtype, Device device) : base("Embedding")
    {
        weight = new Parameter(empty([vocab, dim], dtype: dtype, device: device));
        RegisterComponents();
    }

    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var flat = ids.reshape(-1);
        var rows = weight.index_select(0, flat);                 // (B*T, D)
        var shape = ids.shape.Append(weight.shape[1]).ToArray();
        return rows.view(shape).MoveToOuterDisposeScope();       // (B, T, D)
    }
}

/// <summary>RMSNorm as in HF Llama: normalise in float32, scale by weight in the input dtype. With plusOne (Gemma)
/// the scale is (1 + weight), applied in float32 before casting back.</summary>
public sealed class RMSNorm : nn.Module<Tensor, Tensor>
{
    public Parameter weight;
    readonly double _eps;
    readonly bool _plusOne;

    public RMSNorm(long dim, double eps, ScalarType dtype, Device device, bool plusOne = false) : base("RMSNorm")
    {
        _eps = eps; _plusOne = plusOne;
        weight = new Parameter(plusOne ? zeros([dim], dtype: dtype, device: device) : ones([dim], dtype: dtype, device: device));
        RegisterComponents();
    }

    public RMSNorm(ModelConfig c, long dim, ScalarType dtype, Device device) : this(dim, c.RmsNormEps, dtype, device, c.NormPlusOne) { }

    /// <summary>Whether the stored weight is an offset from one (so a neutral norm has weight 0).</summary>
    public bool PlusOne => _plusOne;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x.to(ScalarType.Float32);
        var variance = h.pow(2).mean([-1], keepdim: true);
        h = h.mul(torch.rsqrt(variance.add(_eps)));
        if (_plusOne) return h.mul(weight.to(ScalarType.Float32).add(1.0)).to(x.dtype).MoveToOuterDisposeScope();
        return weight.mul(h.to(x.dtype)).MoveToOuterDisposeScope();
    }
}

/// <summary>Rotary position embedding (HF "rotate_half" layout).</summary>
public static class Rotary
{
    /// <summary>inv_freq[i] = θ^(−2i/d), with Llama 3's wavelength-dependent rescaling or linear scaling applied.
    /// Pure function (tested against hand-computed values).</summary>
    public static double[] InverseFrequencies(int headDim, double theta, RopeScaling? scaling)
    {
        var inv = new double[headDim / 2];
        for (int i = 0; i < inv.Length; i++)
            inv[i] = 1.0 / Math.Pow(theta, (2.0 * i) / headDim);
        if (scaling is null) return inv;
        if (scaling.Type == "linear")
            return inv.Select(f => f / scaling.Factor).ToArray();
        // llama3 (HF _compute_llama3_parameters): long wavelengths divided by factor, short kept,
        // the band between interpolated smoothly.
        double oldCtx = scaling.OriginalMaxPositionEmbeddings;
        double lowWavelen = oldCtx / scaling.LowFreqFactor, highWavelen = oldCtx / scaling.HighFreqFactor;
        for (int i = 0; i < inv.Length; i++)
        {
            double wavelen = 2 * Math.PI / inv[i];
            if (wavelen < highWavelen) continue;
            if (wavelen > lowWavelen) { inv[i] /= scaling.Factor; continue; }
            double smooth = (oldCtx / wavelen - scaling.LowFreqFactor) / (scaling.HighFreqFactor - scaling.LowFreqFactor);
            inv[i] = (1 - smooth) * inv[i] / scaling.Factor + smooth * inv[i];
        }
        return inv;
    }

    /// <summary>cos and sin tables for the given positions: (B, T, D) each, computed in float32, cast to dtype.</summary>
    public static (Tensor cos, Tensor sin) Tables(Tensor invFreq, Tensor positionIds, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var freqs = positionIds.to(ScalarType.Float32).unsqueeze(-1).mul(invFreq);   // (B, T, D/2)
        var emb = torch.cat([freqs, freqs], -1);                                      // (B, T, D)
        return (emb.cos().to(dtype).MoveToOuterDisposeScope(), emb.sin().to(dtype).MoveToOuterDisposeScope());
    }

    /// <summary>x·cos + rotate_half(x)·sin, x (B, H, T, D), cos/sin (B, T, D).</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        long half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        var rotated = torch.cat([x2.neg(), x1], -1);
        var c = cos.unsqueeze(1);                                                     // (B, 1, T, D)
        var s = sin.unsqueeze(1);
        return x.mul(c).add_(rotated.mul(s)).MoveToOuterDisposeScope();
    }
}

/// <summary>Gated MLP: down(act(gate(x)) · up(x)), act = silu (SwiGLU) or tanh-approximated gelu (Gemma's GeGLU).</summary>
public sealed class MLP : nn.Module<Tensor, Tensor>
{
    public Linear gate_proj, up_proj, down_proj;
    readonly bool _gelu;

    public MLP(ModelConfig c, ScalarType dtype, Device device) : base("MLP")
    {
        _gelu = c.HiddenAct == "gelu_pytorch_tanh";
        gate_proj = new Linear(c.HiddenSize, c.IntermediateSize, c.MlpBias, dtype, device);
        up_proj = new Linear(c.HiddenSize, c.IntermediateSize, c.MlpBias, dtype, device);
        down_proj = new Linear(c.IntermediateSize, c.HiddenSize, c.MlpBias, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var g = gate_proj.forward(x);
        var a = _gelu ? F.gelu(g, TorchSharp.Modules.GELU.Approximate.tanh) : F.silu(g);
        return down_proj.forward(a.mul_(up_proj.forward(x))).MoveToOuterDisposeScope();
    }
}

/// <summary>A sequence's columns Start … Start+Length−1 of a packed row; Prefix: the index of the segment holding its
/// shared prefix (which it also attends to, its positions continuing from that prefix's length), −1 for none.</summary>
public readonly record struct Segment(int Row, int Start, int Length, int Prefix = -1);

/// <summary>Per-forward inputs shared by every layer. Sliding (Gemma 3) holds the rotary tables and mask of the
/// sliding-window layers; full-attention layers use the outer fields. Segments (packed rows): attention runs causally
/// within each segment (and the shared prefix it continues) only, Window (sliding layers) bounding it further, segment
/// by segment.</summary>
public sealed record AttentionContext(Tensor Cos, Tensor Sin, Tensor? Mask, bool Causal, KvCache? Cache, AttentionContext? Sliding = null)
{
    public IReadOnlyList<Segment>? Segments { get; init; }
    public int? Window { get; init; }

    public AttentionContext For(LayerKind kind) => kind == LayerKind.SlidingAttention && Sliding is not null ? Sliding : this;
}

/// <summary>Multi-head attention with grouped-query K/V heads, optional q/k RMSNorm (Qwen3) and a KV cache.</summary>
public sealed class Attention : nn.Module
{
    public Linear q_proj, k_proj, v_proj, o_proj;
    public RMSNorm? q_norm, k_norm;
    readonly int _heads, _kvHeads, _headDim, _layer;
    readonly double _scale;

    public Attention(ModelConfig c, int layer, ScalarType dtype, Device device) : base("Attention")
    {
        _heads = c.NumHeads; _kvHeads = c.NumKvHeads; _headDim = c.HeadDim; _layer = layer;
        _scale = c.AttentionScale;
        q_proj = new Linear(c.HiddenSize, c.QueryWidth, c.QkvBias, dtype, device);
        k_proj = new Linear(c.HiddenSize, c.KvWidth, c.QkvBias, dtype, device);
        v_proj = new Linear(c.HiddenSize, c.KvWidth, c.QkvBias, dtype, device);
        o_proj = new Linear(c.QueryWidth, c.HiddenSize, c.OutBias, dtype, device);
        if (c.QkNorm)
        {
            q_norm = new RMSNorm(c, c.HeadDim, dtype, device);
            k_norm = new RMSNorm(c, c.HeadDim, dtype, device);
        }
        RegisterComponents();
    }

    /// <summary>Expands K/V heads to query heads by head: KV head h serves query heads h·g … h·g+g−1
    /// (HF repeat_kv). (B, KVH, S, D) → (B, KVH·g, S, D).</summary>
    public static Tensor RepeatKv(Tensor x, int groups)
    {
        if (groups == 1) return x.alias();
        var (b, h, s, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        return x.unsqueeze(2).expand(b, h, groups, s, d).reshape(b, h * groups, s, d);
    }

    public Tensor Forward(Tensor x, AttentionContext ctx)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = q_proj.forward(x).view(b, t, _heads, _headDim);          // (B, T, H, D)
        var k = k_proj.forward(x).view(b, t, _kvHeads, _headDim);        // (B, T, KVH, D)
        var v = v_proj.forward(x).view(b, t, _kvHeads, _headDim);
        if (q_norm is not null) { q = q_norm.forward(q); k = k_norm!.forward(k); }
        q = Rotary.Apply(q.transpose(1, 2), ctx.Cos, ctx.Sin);           // (B, H, T, D)
        k = Rotary.Apply(k.transpose(1, 2), ctx.Cos, ctx.Sin);           // (B, KVH, T, D)
        v = v.transpose(1, 2);                                           // (B, KVH, T, D)
        if (ctx.Cache is not null) (k, v) = ctx.Cache.Append(_layer, k, v);   // (B, KVH, S, D)
        int g = _heads / _kvHeads;
        var kk = RepeatKv(k, g);                                         // (B, H, S, D)
        var vv = RepeatKv(v, g);
        Tensor o = ctx.Segments is { } segs ? Packed(q, kk, vv, segs, ctx.Window) : Attend(q, kk, vv, ctx.Mask, ctx.Causal);   // (B, H, T, D)
        o = o.transpose(1, 2).reshape(b, t, _heads * _headDim);          // (B, T, H·D)
        return o_proj.forward(o).MoveToOuterDisposeScope();
    }

    Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal) =>
        Math.Abs(_scale * Math.Sqrt(_headDim) - 1) < 1e-12
            ? F.scaled_dot_product_attention(q, k, v, mask, 0.0, causal)                // (B, H, T, D)
            : Explicit(q, k, v, mask, causal);

    /// <summary>Packed rows: each segment attends causally to itself alone (within Window for sliding layers) or, when
    /// it continues a shared prefix (Segment.Prefix), to that prefix's keys and then its own, so no score is computed
    /// across sequences or on padding; the outputs are laid back in place, zeros on padding. q/k/v (B, H, T, D) →
    /// (B, H, T, D).</summary>
    Tensor Packed(Tensor q, Tensor k, Tensor v, IReadOnlyList<Segment> segments, int? window)
    {
        long b = q.shape[0], h = q.shape[1], t = q.shape[2], d = q.shape[3];
        var rows = new List<Tensor>();
        for (int r = 0; r < b; r++)
        {
            var parts = new List<Tensor>();
            int at = 0;
            foreach (var sg in segments.Where(x => x.Row == r).OrderBy(x => x.Start))
            {
                if (sg.Start > at) parts.Add(torch.zeros([1, h, sg.Start - at, d], dtype: q.dtype, device: q.device));
                Tensor Cut(Tensor x, Segment s) => x.narrow(0, r, 1).narrow(2, s.Start, s.Length);          // (1, H, L, D)
                int past = sg.Prefix >= 0 ? segments[sg.Prefix].Length : 0;
                Tensor Keys(Tensor x) => past == 0 ? Cut(x, sg) : torch.cat([Cut(x, segments[sg.Prefix]), Cut(x, sg)], 2);   // (1, H, P+L, D)
                Tensor? mask = null;
                if (past > 0 || window is { } w0 && sg.Length > w0)
                {
                    // Query i (position past+i) sees key j (position j) when j ≤ past+i and, with a window, past+i−j < window.
                    var qi = torch.arange(past, past + sg.Length, device: q.device).unsqueeze(1);
                    var ki = torch.arange(past + sg.Length, device: q.device).unsqueeze(0);
                    mask = ki.le(qi);                                                                    // (L, P+L)
                    if (window is { } w) mask = mask.logical_and(qi.sub(ki).lt(w));
                }
                parts.Add(Attend(Cut(q, sg), Keys(k), Keys(v), mask, mask is null && sg.Length > 1));
                at = sg.Start + sg.Length;
            }
            if (at < t) parts.Add(torch.zeros([1, h, t - at, d], dtype: q.dtype, device: q.device));
            rows.Add(parts.Count == 1 ? parts[0] : torch.cat(parts, 2));
        }
        return rows.Count == 1 ? rows[0] : torch.cat(rows, 0);
    }

    /// <summary>softmax(q·kᵀ·scale + mask)·v with the softmax in float32 (HF eager attention), for a scale other than
    /// head_dim^−½. q (B, H, T, D), k/v (B, H, S, D) → (B, H, T, D).</summary>
    Tensor Explicit(Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal)
    {
        var s = q.matmul(k.transpose(-1, -2)).mul(_scale);                           // (B, H, T, S)
        s = s.to(ScalarType.Float32);
        mask ??= causal ? CausalLM.CausalMask(q.shape[2], k.shape[2] - q.shape[2], q.device) : null;
        if (mask is not null) s = s.masked_fill(mask.logical_not(), double.NegativeInfinity);
        return s.softmax(-1).to(q.dtype).matmul(v);
    }
}

/// <summary>One block. Llama layout: x + attn(norm(x)), then h + mlp(post_attention_layernorm(h)). Gemma 3
/// (SandwichNorms): post_attention_layernorm normalises the attention output before the residual add, and
/// pre_/post_feedforward_layernorm wrap the MLP the same way.</summary>
public sealed class DecoderLayer : nn.Module
{
    public Attention self_attn;
    public MLP mlp;
    public RMSNorm input_layernorm, post_attention_layernorm;
    public RMSNorm? pre_feedforward_layernorm, post_feedforward_layernorm;
    public LayerKind Kind { get; }

    public DecoderLayer(ModelConfig c, int layer, ScalarType dtype, Device device) : base("DecoderLayer")
    {
        Kind = c.KindOf(layer);
        self_attn = new Attention(c, layer, dtype, device);
        mlp = new MLP(c, dtype, device);
        input_layernorm = new RMSNorm(c, c.HiddenSize, dtype, device);
        post_attention_layernorm = new RMSNorm(c, c.HiddenSize, dtype, device);
        if (c.SandwichNorms)
        {
            pre_feedforward_layernorm = new RMSNorm(c, c.HiddenSize, dtype, device);
            post_feedforward_layernorm = new RMSNorm(c, c.HiddenSize, dtype, device);
        }
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, AttentionContext ctx)
    {
        using var scope = NewDisposeScope();
        ctx = ctx.For(Kind);
        Tensor o;
        if (pre_feedforward_layernorm is null)
        {
            var h = x.add(self_attn.Forward(input_layernorm.forward(x), ctx));
            o = h.add(mlp.forward(post_attention_layernorm.forward(h)));
        }
        else
        {
            var h = x.add(post_attention_layernorm.forward(self_attn.Forward(input_layernorm.forward(x), ctx)));
            o = h.add(post_feedforward_layernorm!.forward(mlp.forward(pre_feedforward_layernorm.forward(h))));
        }
        return o.MoveToOuterDisposeScope();
    }
}
