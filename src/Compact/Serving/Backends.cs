using System.Text;
using Compact.Generation;
using Compact.Tokenization;
using TorchSharp;

namespace Compact.Serving;

public sealed record ChatMessage(string Role, string Content);

/// <summary>A validated completion request: chat messages or a raw prompt, for one choice.</summary>
public sealed record CompletionRequest
{
    public IReadOnlyList<ChatMessage>? Messages { get; init; }
    public string? Prompt { get; init; }
    public int MaxTokens { get; init; } = 256;
    public double Temperature { get; init; } = 1.0;
    public double TopP { get; init; } = 1.0;
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>The server always sets one (a fresh random seed when the client sent none).</summary>
    public long? Seed { get; init; }
    /// <summary>The last message is an assistant turn to continue rather than answer.</summary>
    public bool ContinueFinal { get; init; }
    /// <summary>null: no log-probabilities; otherwise also this many most likely alternatives per token (0–20).</summary>
    public int? TopLogprobs { get; init; }
}

/// <summary>One alternative token with its log-probability and UTF-8 bytes (OpenAI's top_logprobs entry).</summary>
public sealed record TopLogprob(string Token, double Logprob, byte[] Bytes);

/// <summary>A generated token with its log-probability under the model (before temperature) and the top alternatives.</summary>
public sealed record TokenLogprob(string Token, double Logprob, byte[] Bytes, IReadOnlyList<TopLogprob> Top);

public sealed record CompletionResult(string Text, string FinishReason, int PromptTokens, int CompletionTokens)
{
    /// <summary>Per generated token, when the request asked for them.</summary>
    public IReadOnlyList<TokenLogprob>? Logprobs { get; init; }
}

/// <summary>A streamed piece of text with the log-probabilities of the tokens it completes (when asked).</summary>
public sealed record CompletionDelta(string Text, IReadOnlyList<TokenLogprob>? Logprobs = null);

/// <summary>What the OpenAI-compatible server serves: a Compact model, or (for the demo and tests) a scripted
/// stand-in. Every call — CountPromptTokens included — comes from the server's single worker thread, one at a time,
/// so a backend need not be thread-safe.</summary>
public interface ICompletionBackend
{
    string ModelId { get; }
    int ContextLength { get; }
    /// <summary>Whether Complete fills in log-probabilities when TopLogprobs is set.</summary>
    bool SupportsLogprobs => false;
    /// <summary>Prompt length in tokens (for the context check), or 0 when the backend has no tokenizer.</summary>
    int CountPromptTokens(CompletionRequest request);
    /// <summary>Produces the completion; onDelta receives text pieces as they are generated (streaming).</summary>
    CompletionResult Complete(CompletionRequest request, Action<string>? onDelta, CancellationToken ct);
    /// <summary>Streaming with log-probabilities: each piece carries the log-probabilities of its tokens.</summary>
    CompletionResult CompleteStreaming(CompletionRequest request, Action<CompletionDelta> onDelta, CancellationToken ct) =>
        Complete(request, d => onDelta(new CompletionDelta(d)), ct);
}

/// <summary>A Compact checkpoint (with or without adapter) behind the server.</summary>
/// <param name="escapeSpecialInContent">Encode message text with special tokens read as plain text (`serve --escape-special-in-content`).</param>
public sealed class ModelBackend(LoadedModel model, string? id = null, bool escapeSpecialInContent = false) : ICompletionBackend
{
    public string ModelId { get; } = id ?? model.Name;
    public int ContextLength => model.Model.Config.MaxPositionEmbeddings;
    public bool SupportsLogprobs => true;

    /// <summary>The prompt ids. Raw prompts of /v1/completions are the client's own text, special tokens included.</summary>
    public IReadOnlyList<int> Encode(CompletionRequest r) => r.Messages is not null
        ? model.Chat.EncodeConversation(r.Messages.Select(m => (m.Role, m.Content)).ToList(), escapeSpecialInContent, r.ContinueFinal)
        : model.Tokenizer.Encode(r.Prompt ?? "", addSpecialTokens: true);

    public int CountPromptTokens(CompletionRequest request) => Encode(request).Count;

    public CompletionResult Complete(CompletionRequest request, Action<string>? onDelta, CancellationToken ct) =>
        Run(request, onDelta is null ? null : d => onDelta(d.Text), ct);

    public CompletionResult CompleteStreaming(CompletionRequest request, Action<CompletionDelta> onDelta, CancellationToken ct) => Run(request, onDelta, ct);

    CompletionResult Run(CompletionRequest r, Action<CompletionDelta>? onDelta, CancellationToken ct)
    {
        var prompt = Encode(r);
        var ids = new List<int>();
        string sent = "";
        List<TokenLogprob>? lps = r.TopLogprobs is null ? null : new();
        int lpSent = 0;
        torch.Tensor? stepLogprobs = null;                                     // (B, V) log-softmax of this step, B = 1
        (float[] Values, long[] Ids) top = ([], []);
        var o = new GenerationOptions { MaxNewTokens = r.MaxTokens, Temperature = r.Temperature, TopP = r.TopP, Seed = r.Seed ?? 0, StopStrings = r.Stop };
        Action<torch.Tensor>? onLogits = lps is null ? null : logits =>
        {
            // Tensors made here belong to the generator's per-step dispose scope and live until the step's onToken.
            stepLogprobs = logits.log_softmax(-1);
            if (r.TopLogprobs > 0)
            {
                var (v, i) = stepLogprobs[0].topk(r.TopLogprobs.Value);
                top = (v.cpu().data<float>().ToArray(), i.cpu().data<long>().ToArray());
            }
        };
        Action<int, int>? onToken = onDelta is null && lps is null ? null : (_, tok) =>
        {
            ids.Add(tok);
            lps?.Add(new TokenLogprob(Piece(tok), stepLogprobs![0, tok].item<float>(), Bytes(tok),
                top.Ids.Select((t, k) => new TopLogprob(Piece((int)t), top.Values[k], Bytes((int)t))).ToList()));
            if (onDelta is null) return;
            var text = model.Tokenizer.Decode(ids, skipSpecialTokens: true);
            // Hold back an incomplete UTF-8 sequence (a replacement character at the end) and any text that
            // could still turn into a stop string.
            int safe = text.EndsWith('\uFFFD') ? text.TrimEnd('\uFFFD').Length : text.Length;
            foreach (var s in r.Stop)
                for (int k = Math.Min(s.Length - 1, safe); k > 0; k--)
                    if (text[..safe].EndsWith(s[..k], StringComparison.Ordinal)) { safe -= k; break; }
            if (safe > sent.Length && text.StartsWith(sent, StringComparison.Ordinal))
            {
                onDelta(new CompletionDelta(text[sent.Length..safe], lps?.Skip(lpSent).ToList()));
                lpSent = lps?.Count ?? 0;
                sent = text[..safe];
            }
        };
        var res = model.Generate([prompt], o, ct, onToken, onLogits)[0];
        if (onDelta is not null && (res.Text.Length > sent.Length || lps is not null && lpSent < lps.Count) && res.Text.StartsWith(sent, StringComparison.Ordinal))
            onDelta(new CompletionDelta(res.Text[sent.Length..], lps?.Skip(lpSent).ToList()));
        return new CompletionResult(res.Text, res.FinishReason, prompt.Count, res.NewIds.Count) { Logprobs = lps };
    }

    string Piece(int id) => model.Tokenizer.Decode([id]);

    /// <summary>The token's own bytes: byte-level BPE pieces map back to raw bytes (part of a UTF-8 sequence stays partial).</summary>
    byte[] Bytes(int id)
    {
        var tok = model.Tokenizer;
        if (tok.AddedTokens.Values.Contains(id)) return Encoding.UTF8.GetBytes(tok.Decode([id]));
        var bytes = new List<byte>();
        return ByteLevel.TryAppendBytes(tok.IdToToken(id), bytes) ? bytes.ToArray() : Encoding.UTF8.GetBytes(tok.Decode([id]));
    }
}
