using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Compact.Tokenization;

// The steps of a Hugging Face tokenizer.json that HfTokenizer runs around its BPE model, each with the semantics of
// the Rust `tokenizers` crate (the reference of the parity tests). Microsoft.ML.Tokenizers 2.0 has no counterpart
// that can be driven from tokenizer.json data: its SentencePieceTokenizer only reads a sentencepiece .model protobuf
// and merges by piece score (HF merges by rank), and its BpeTokenizer has no byte_fallback, no Prepend/Replace
// normalizers, no Metaspace pre-tokenizer and no ByteFallback/Fuse/Strip decoders. So these small steps are ours and
// the merge loop stays ML.Tokenizers' (see SentencePieceBpe).

/// <summary>A <c>normalizer</c> step (NFC, Prepend, Replace with a String pattern).</summary>
internal abstract record NormalizerStep
{
    public abstract string Apply(string text);

    public sealed record NfcStep : NormalizerStep
    {
        public override string Apply(string text) => Nfc.Normalize(text);
    }

    /// <summary>HF <c>Prepend</c>: prepends to any non-empty text, even one that already starts with it.</summary>
    public sealed record PrependStep(string Prefix) : NormalizerStep
    {
        public override string Apply(string text) => text.Length == 0 ? text : Prefix + text;
    }

    /// <summary>HF <c>Replace</c> with a literal pattern: every non-overlapping occurrence, left to right.</summary>
    public sealed record ReplaceStep(string Pattern, string Content) : NormalizerStep
    {
        public override string Apply(string text) => text.Replace(Pattern, Content, StringComparison.Ordinal);
    }
}

/// <summary>A pre-token: its text and whether it starts at offset 0 of the original input (Metaspace "first").</summary>
internal readonly record struct PreToken(string Text, bool AtStart);

/// <summary>A <c>pre_tokenizer</c> step; each splits every piece into non-empty pieces.</summary>
internal abstract record PreTokenizerStep
{
    public abstract void Apply(PreToken piece, List<PreToken> into);

    /// <summary>A regex Split with behavior Isolated (also ByteLevel's GPT-2 regex), matched on code points.</summary>
    public sealed record RegexIsolated(CodePointRegex Regex) : PreTokenizerStep
    {
        public override void Apply(PreToken piece, List<PreToken> into)
        {
            var parts = new List<(int Start, int Length)>();
            Regex.Split(piece.Text, 0, piece.Text.Length, parts);
            foreach (var (start, length) in parts)
                into.Add(new PreToken(piece.Text.Substring(start, length), piece.AtStart && start == 0));
        }
    }

    public enum SplitBehavior { Isolated, Removed, MergedWithPrevious, MergedWithNext }

    /// <summary>HF <c>Split</c> with a literal pattern (Gemma 3 splits on " " MergedWithPrevious).</summary>
    public sealed record StringSplit(string Pattern, SplitBehavior Behavior) : PreTokenizerStep
    {
        public override void Apply(PreToken piece, List<PreToken> into) => SplitOn(piece, Pattern, Behavior, into);
    }

    /// <summary>
    /// HF <c>Metaspace</c>: spaces become the replacement; it is prepended (unless the piece already starts with it)
    /// always, or only to the piece at offset 0 of the input ("first"), or never; then, with split, each
    /// replacement starts a new piece (MergedWithNext).
    /// </summary>
    public sealed record Metaspace(string Replacement, string PrependScheme, bool Split) : PreTokenizerStep
    {
        public override void Apply(PreToken piece, List<PreToken> into)
        {
            var text = piece.Text.Replace(" ", Replacement, StringComparison.Ordinal);
            var prepend = PrependScheme == "always" || (PrependScheme == "first" && piece.AtStart);
            if (prepend && !text.StartsWith(Replacement, StringComparison.Ordinal)) text = Replacement + text;
            if (Split) SplitOn(piece with { Text = text }, Replacement, SplitBehavior.MergedWithNext, into);
            else into.Add(piece with { Text = text });
        }
    }

    private static void SplitOn(PreToken piece, string pattern, SplitBehavior behavior, List<PreToken> into)
    {
        var text = piece.Text;
        var cuts = new List<(int Start, int End, bool Keep)>();
        var last = 0;
        for (var at = text.IndexOf(pattern, StringComparison.Ordinal); at >= 0 && pattern.Length > 0;
             at = text.IndexOf(pattern, at + pattern.Length, StringComparison.Ordinal))
        {
            var end = at + pattern.Length;
            switch (behavior)
            {
                case SplitBehavior.Isolated:
                    cuts.Add((last, at, true)); cuts.Add((at, end, true)); last = end; break;
                case SplitBehavior.Removed:
                    cuts.Add((last, at, true)); last = end; break;
                case SplitBehavior.MergedWithPrevious:
                    cuts.Add((last, end, true)); last = end; break;
                case SplitBehavior.MergedWithNext:
                    cuts.Add((last, at, true)); last = at; break;
            }
        }
        cuts.Add((last, text.Length, true));
        foreach (var (start, end, _) in cuts)
            if (end > start) into.Add(new PreToken(text[start..end], piece.AtStart && start == 0));
    }
}

/// <summary>A <c>decoder</c> step over the token strings (HF's decode_chain).</summary>
internal abstract record DecoderStep
{
    public abstract List<string> Apply(List<string> tokens);

    public sealed record Replace(string Pattern, string Content) : DecoderStep
    {
        public override List<string> Apply(List<string> tokens) =>
            tokens.Select(t => t.Replace(Pattern, Content, StringComparison.Ordinal)).ToList();
    }

    /// <summary>
    /// HF <c>ByteFallback</c>: runs of &lt;0xNN&gt; tokens become their UTF-8 text; a run that is not valid UTF-8
    /// becomes one U+FFFD per byte.
    /// </summary>
    public sealed record ByteFallback : DecoderStep
    {
        public override List<string> Apply(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            var bytes = new List<byte>();
            foreach (var t in tokens)
            {
                if (TryParseByte(t, out var b)) { bytes.Add(b); continue; }
                Flush(bytes, result);
                result.Add(t);
            }
            Flush(bytes, result);
            return result;
        }

        private static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);

        private static void Flush(List<byte> bytes, List<string> into)
        {
            if (bytes.Count == 0) return;
            try { into.Add(Strict.GetString(bytes.ToArray())); }
            catch (DecoderFallbackException) { for (var i = 0; i < bytes.Count; i++) into.Add("\uFFFD"); }
            bytes.Clear();
        }
    }

    public sealed record Fuse : DecoderStep
    {
        public override List<string> Apply(List<string> tokens) => [string.Concat(tokens)];
    }

    /// <summary>HF <c>Strip</c>: removes up to Start leading and Stop trailing Content chars from every token.</summary>
    public sealed record Strip(string Content, int Start, int Stop) : DecoderStep
    {
        public override List<string> Apply(List<string> tokens) => tokens.Select(StripOne).ToList();

        private string StripOne(string token)
        {
            var runes = token.EnumerateRunes().Select(r => r.ToString()).ToArray();
            var from = 0;
            while (from < Start && from < runes.Length && runes[from] == Content) from++;
            var to = runes.Length;
            while (runes.Length - to < Stop && to > from && runes[to - 1] == Content) to--;
            return string.Concat(runes[from..to]);
        }
    }

    /// <summary>HF <c>Metaspace</c> decoder: the replacement becomes a space, except in the first token when a
    /// prefix was prepended (prepend_scheme other than "never"), where it is dropped.</summary>
    public sealed record Metaspace(string Replacement, bool DropInFirst) : DecoderStep
    {
        public override List<string> Apply(List<string> tokens) =>
            tokens.Select((t, i) => t.Replace(Replacement, i == 0 && DropInFirst ? "" : " ", StringComparison.Ordinal)).ToList();
    }

    /// <summary>"&lt;0xNN&gt;" with two hex digits (Rust's u8::from_str_radix also takes "+N").</summary>
    public static bool TryParseByte(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
               && (token[3] == '+'
                   ? byte.TryParse(token.AsSpan(4, 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
                   : byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value));
    }
}

/// <summary>
/// The BPE model of a sentencepiece-style tokenizer.json (Llama 2, Mistral, Gemma, TinyLlama): symbols are
/// characters, not bytes. A character outside the vocab becomes its UTF-8 bytes as &lt;0xNN&gt; tokens
/// (byte_fallback), else the unk token (consecutive ones fused with fuse_unk), exactly in the order of the Rust
/// BPE model (a pending unk is written before the next known character, after any byte tokens). Runs of known
/// characters are merged by Microsoft.ML.Tokenizers' BPE (by merge rank, as in Hugging Face); merges never cross
/// a byte or unk token because the loader rejects files whose merges mention them.
/// </summary>
internal sealed class SentencePieceBpe(
    BpeTokenizer bpe, Dictionary<string, int> vocab, bool byteFallback, int? unkId, bool fuseUnk, bool ignoreMerges)
{
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
    private readonly int?[] _byteIds = Enumerable.Range(0, 256)
        .Select(b => vocab.TryGetValue($"<0x{b:X2}>", out var id) ? id : (int?)null).ToArray();

    public void Encode(string word, List<int> ids)
    {
        if (word.Length == 0) return;
        if (ignoreMerges && _lookup.TryGetValue(word.AsSpan(), out var whole)) { ids.Add(whole); return; }

        var runStart = -1;
        var pendingUnk = false;
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < word.Length;)
        {
            var len = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            var ch = word.AsSpan(i, len);
            if (_lookup.ContainsKey(ch))
            {
                if (pendingUnk) { ids.Add(unkId!.Value); pendingUnk = false; }
                if (runStart < 0) runStart = i;
            }
            else
            {
                FlushRun(word, ref runStart, i, ids);
                var n = Encoding.UTF8.GetBytes(ch, utf8);
                if (byteFallback && utf8[..n].ToArray().All(b => _byteIds[b] is not null))
                    foreach (var b in utf8[..n]) ids.Add(_byteIds[b]!.Value);
                else if (unkId is { } unk)
                {
                    if (pendingUnk && !fuseUnk) ids.Add(unk);
                    pendingUnk = true;
                }
            }
            i += len;
        }
        FlushRun(word, ref runStart, word.Length, ids);
        if (pendingUnk) ids.Add(unkId!.Value);
    }

    private void FlushRun(string word, ref int runStart, int end, List<int> ids)
    {
        if (runStart < 0) return;
        ids.AddRange(bpe.EncodeToIds(word.AsSpan(runStart, end - runStart), considerPreTokenization: true, considerNormalization: false));
        runStart = -1;
    }
}
