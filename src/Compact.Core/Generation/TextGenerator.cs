using Compact.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Generation;

public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 256;
    /// <summary>0 means greedy (argmax).</summary>
    public double Temperature { get; init; }
    /// <summary>Nucleus sampling: keep the smallest set of tokens whose probability reaches TopP.</summary>
    public double TopP { get; init; } = 1.0;
    public long Seed { get; init; }
    public IReadOnlyCollection<int> EosIds { get; init; } = [];
    public IReadOnlyList<string> StopStrings { get; init; } = [];
}

public sealed record GenerationResult(IReadOnlyList<int> PromptIds, IReadOnlyList<int> NewIds, string Text, string FinishReason);

/// <summary>Batched autoregressive decoding with a KV cache. Prompts are prefilled without padding (equal lengths
/// together), then decoded as one left-padded batch; each row stops at an end-of-sequence id, at a stop string (the text is cut before it), or at MaxNewTokens.</summary>
public static class TextGenerator
{
    /// <param name="onToken">Called with (row, token id) for every token kept, as it is generated (streaming).</param>
    /// <param name="onLogits">Called each step, before the tokens are chosen and onToken runs, with the raw (B, V) float32 logits
    /// (before temperature); the tensor lives until the step ends (log-probabilities for `serve`).</param>
    public static IReadOnlyList<GenerationResult> Generate(CausalLM model, IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions o,
        Func<IReadOnlyList<int>, string> decode, int padId, CancellationToken ct = default, Action<int, int>? onToken = null, Action<Tensor>? onLogits = null)
    {
        if (prompts.Count == 0) return [];
        if (prompts.Any(p => p.Count == 0)) throw new CompactException("a prompt encodes to zero tokens; give a non-empty prompt.");
        if (o.Temperature < 0) throw new CompactException($"temperature must be ≥ 0 (got {o.Temperature}).");
        if (o.TopP is <= 0 or > 1) throw new CompactException($"top-p must be in (0, 1] (got {o.TopP}).");
        int b = prompts.Count, p = prompts.Max(x => x.Count);
        int ctxLimit = model.Config.MaxPositionEmbeddings;
        int maxNew = Math.Max(0, Math.Min(o.MaxNewTokens, ctxLimit - p));

        // Left padding: prompt r's tokens end at column p − 1.
        var mask = new long[b * p];
        for (int r = 0; r < b; r++)
            for (int j = p - prompts[r].Count; j < p; j++) mask[r * p + j] = 1;
        var newIds = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var done = new bool[b];
        var reason = Enumerable.Repeat("length", b).ToArray();
        var texts = new string?[b];
        var eos = o.EosIds.ToHashSet();
        using var gen = new torch.Generator((ulong)o.Seed, torch.CPU);

        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = torch.inference_mode();
            using var cache = new KvCache(model.Config.NumLayers, p + maxNew + 1);
            // Attention mask over prompt + generated positions, filled in as decoding advances.
            using var fullMask = torch.zeros([b, p + maxNew], dtype: ScalarType.Int64, device: model.Device);
            using (var pm = torch.tensor(mask, [b, p], device: model.Device)) fullMask.narrow(1, 0, p).copy_(pm);
            int total = p;
            long[] step = [];                                                                    // set after the first token
            Tensor? first = maxNew > 0 ? Prefill(model, prompts, p, cache) : null;             // (B, V) float32
            for (int t = 0; t < maxNew && !done.All(d => d); t++)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                Tensor logits;
                if (t == 0) logits = first!;
                else
                {
                    var input = torch.tensor(step, [b, 1], device: model.Device);
                    var am = fullMask.narrow(1, 0, total);
                    // Positions: count of real tokens before each position (left padding does not shift them).
                    using var o1 = model.Forward(input, am, cache);
                    logits = model.Logits(o1.Hidden.squeeze(1)).to(ScalarType.Float32);                   // (B, V)
                }
                onLogits?.Invoke(logits);
                var next = Choose(logits, o, gen);
                var nextArr = next.cpu().data<long>().ToArray();
                for (int r = 0; r < b; r++)
                {
                    if (done[r]) continue;
                    int tok = (int)nextArr[r];
                    if (eos.Contains(tok)) { done[r] = true; reason[r] = "stop"; continue; }
                    newIds[r].Add(tok);
                    onToken?.Invoke(r, tok);
                    if (o.StopStrings.Count > 0)
                    {
                        var text = decode(newIds[r]);
                        int cut = o.StopStrings.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
                        if (cut >= 0) { done[r] = true; reason[r] = "stop"; texts[r] = text[..cut]; }
                    }
                }
                // Next step: one token per row (finished rows feed padding that nobody reads).
                step = nextArr.Select((x, r) => done[r] ? padId : x).ToArray();
                if (total < p + maxNew) fullMask.narrow(1, total, 1).fill_(1);
                total++;
            }
            first?.Dispose();
        }
        finally { if (wasTraining) model.train(); }

        return Enumerable.Range(0, b).Select(r => new GenerationResult(prompts[r], newIds[r], texts[r] ?? decode(newIds[r]), reason[r])).ToList();
    }

    /// <summary>The prompts' prefill without padding: prompts of equal length together (plain causal attention, no
    /// mask), each group's keys and values then laid right-aligned into the decoding cache (left padding, as one
    /// padded prefill would leave them). Returns each prompt's next-token logits (B, V) in float32.</summary>
    static Tensor Prefill(CausalLM model, IReadOnlyList<IReadOnlyList<int>> prompts, int p, KvCache cache)
    {
        using var scope = NewDisposeScope();
        Tensor? logits = null;
        foreach (var g in Enumerable.Range(0, prompts.Count).GroupBy(r => prompts[r].Count))
        {
            using var inner = NewDisposeScope();
            var rows = g.Select(r => (long)r).ToArray();
            int len = g.Key;
            var ids = torch.tensor(rows.SelectMany(r => prompts[(int)r].Select(x => (long)x)).ToArray(), [rows.Length, len], device: model.Device);
            using var part = new KvCache(model.Config.NumLayers, len);
            using var o = model.Forward(ids, cache: part);
            var l = model.Logits(o.Hidden.narrow(1, len - 1, 1).squeeze(1)).to(ScalarType.Float32);               // (g, V)
            if (logits is null) logits = torch.zeros([prompts.Count, l.shape[1]], dtype: ScalarType.Float32, device: l.device).MoveToOuterDisposeScope();
            logits.index_copy_(0, torch.tensor(rows, device: l.device), l);
            cache.Place(part, rows, p - len, prompts.Count);
        }
        cache.Advance(p);
        return logits!.MoveToOuterDisposeScope();
    }

    /// <summary>Greedy argmax at temperature 0; otherwise temperature-scaled nucleus sampling.</summary>
    public static Tensor Choose(Tensor logits, GenerationOptions o, torch.Generator gen)
    {
        using var scope = NewDisposeScope();
        if (o.Temperature == 0) return logits.argmax(-1).MoveToOuterDisposeScope();
        var probs = logits.div(o.Temperature).softmax(-1).cpu();
        if (o.TopP < 1)
        {
            var (sorted, order) = probs.sort(-1, descending: true);
            var cum = sorted.cumsum(-1);
            // Drop a token when the mass before it already reaches top-p (the top token always stays).
            var drop = cum.sub(sorted).ge(o.TopP);
            sorted = sorted.masked_fill(drop, 0);
            probs = torch.zeros_like(probs).scatter_(-1, order, sorted);
            probs = probs.div(probs.sum(-1, keepdim: true));
        }
        return torch.multinomial(probs, 1, generator: gen).squeeze(-1).to(logits.device).MoveToOuterDisposeScope();
    }
}
