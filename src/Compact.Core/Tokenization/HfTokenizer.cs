using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Compact.Tokenization;

/// <summary>The two BPE tokenizer.json kinds <see cref="HfTokenizer"/> reads.</summary>
public enum HfTokenizerKind
{
    /// <summary>GPT-2 byte alphabet symbols, ByteLevel pre-tokenizer and decoder: Qwen2/2.5/3, Llama 3.</summary>
    ByteLevelBpe,

    /// <summary>Character symbols with "▁" for spaces, byte_fallback &lt;0xNN&gt; tokens, Prepend/Replace normalizers or a
    /// Metaspace pre-tokenizer: Llama 2, Mistral, TinyLlama, Gemma, llama2.c models (see <see cref="SentencePieceImport"/>).</summary>
    SentencePieceBpe,
}

/// <summary>
/// A Hugging Face BPE tokenizer read from a checkpoint folder's tokenizer.json, giving the same ids as the Rust
/// <c>tokenizers</c> library: byte-level (Qwen2/2.5/3, Llama 3, and the ones <see cref="ByteLevelBpeTrainer"/>
/// writes) or sentencepiece-style (Llama 2, Mistral, Gemma, TinyStories, llama2.c via <see cref="SentencePieceImport"/>).
/// </summary>
/// <remarks>
/// Pipeline, in Hugging Face's order: split the <c>added_tokens</c> with normalized=false out of the raw text
/// (leftmost, longest first; <c>lstrip</c>/<c>rstrip</c> honoured, <c>single_word</c> ignored) → the normalizer
/// (NFC, Prepend, Replace) on each stretch between them → the added tokens with normalized=true, found in the
/// normalized text → the pre-tokenizer (Split regexes on code points via <see cref="CodePointRegex"/>, String
/// splits, Metaspace) → per pre-token: its own id when <c>ignore_merges</c> is set and the vocab has it, else
/// Microsoft.ML.Tokenizers' BPE (byte-level; or on characters, with byte_fallback and unk around it, see
/// <see cref="SentencePieceBpe"/>). <see cref="Decode"/> maps byte-level tokens back through the byte alphabet and
/// reads UTF-8 leniently (a broken sequence becomes U+FFFD), or runs the decoder chain (Replace, ByteFallback,
/// Fuse, Strip, Metaspace); no <c>clean_up_tokenization_spaces</c>; unknown ids are skipped, as in Hugging Face.
/// </remarks>
public sealed class HfTokenizer
{
    public const string TokenizerFileName = "tokenizer.json";
    public const string ConfigFileName = "tokenizer_config.json";
    public const string GenerationConfigFileName = "generation_config.json";
    public const string ChatTemplateFileName = "chat_template.jinja";

    /// <summary>GPT-2's split regex, used by a plain <c>ByteLevel</c> pre-tokenizer with <c>use_regex: true</c>.</summary>
    public const string Gpt2SplitRegex = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Turn-closing tokens that also stop generation when the tokenizer has them.</summary>
    public static readonly IReadOnlyList<string> KnownEndTokens =
        ["<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|endoftext|>", "<|end_of_text|>"];

    /// <param name="Surface">What is matched in the text and decoded: the content, or for normalized=true the content
    /// passed through the normalizer, as the Rust AddedVocabulary stores it (TinyStories' "&lt;unk&gt;" becomes
    /// "▁&lt;unk&gt;" under Prepend("▁"): found only after a space or at the start, decoded as " &lt;unk&gt;").</param>
    private sealed record AddedToken(int Id, string Content, bool Special, bool LStrip, bool RStrip, bool Normalized, string Surface);

    private readonly BpeTokenizer? _bpe;
    private readonly SentencePieceBpe? _spBpe;
    private readonly IReadOnlyList<NormalizerStep> _normalizer;
    private readonly IReadOnlyList<PreTokenizerStep> _preTokenizer;
    private readonly IReadOnlyList<DecoderStep>? _decoder;
    private readonly bool _ignoreMerges;
    private readonly Dictionary<string, int> _vocab;
    private readonly string?[] _idToToken;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, int> _addedByContent;
    private readonly AddedMatcher _rawAdded;
    private readonly AddedMatcher _normalizedAdded;
    private readonly int[] _prefixIds;
    private readonly int[] _suffixIds;
    private readonly int? _padId;
    private readonly string _configSource;

    private HfTokenizer(Parsed p)
    {
        Kind = p.Kind;
        _bpe = p.Bpe;
        _spBpe = p.SpBpe;
        _normalizer = p.Normalizer;
        _preTokenizer = p.PreTokenizer;
        _decoder = p.Decoder;
        _ignoreMerges = p.IgnoreMerges;
        _vocab = p.Vocab;
        _addedById = p.Added.ToDictionary(a => a.Id);
        _addedByContent = p.Added.ToDictionary(a => a.Content, a => a.Id);
        _rawAdded = new AddedMatcher(p.Added.Where(a => !a.Normalized));
        _normalizedAdded = new AddedMatcher(p.Added.Where(a => a.Normalized));

        VocabSize = Math.Max(_vocab.Count == 0 ? 0 : _vocab.Values.Max(), p.Added.Count == 0 ? 0 : p.Added.Max(a => a.Id)) + 1;
        _idToToken = new string?[VocabSize];
        foreach (var (token, id) in _vocab) _idToToken[id] = token;
        foreach (var a in p.Added) _idToToken[a.Id] = a.Content;

        _configSource = p.ConfigSource;
        BosToken = p.Bos;
        EosToken = p.Eos;
        PadToken = p.Pad;
        BosId = Resolve(p.Bos, "bos_token");
        EosId = Resolve(p.Eos, "eos_token");
        _padId = Resolve(p.Pad, "pad_token");
        ChatTemplate = p.ChatTemplate;

        if (p.TemplatePrefix is not null)
        {
            // TemplateProcessing as the file says; for tokenizer_class Llama*/Gemma* an explicit add_bos_token /
            // add_eos_token in tokenizer_config.json wins, as LlamaTokenizerFast/GemmaTokenizerFast rebuild the
            // template from those flags (other classes, e.g. Llama 3's PreTrainedTokenizerFast, keep the file's).
            _prefixIds = p.FlagsRebuildTemplate ? Override(p.TemplatePrefix, BosId, p.AddBos, atStart: true) : p.TemplatePrefix;
            _suffixIds = p.FlagsRebuildTemplate ? Override(p.TemplateSuffix!, EosId, p.AddEos, atStart: false) : p.TemplateSuffix!;
        }
        else
        {
            _prefixIds = p.AddBos == true && BosId is { } b ? [b] : [];
            _suffixIds = p.AddEos == true && EosId is { } e ? [e] : [];
        }

        var eos = new List<int>();
        if (EosId is { } eosId) eos.Add(eosId);
        eos.AddRange(p.GenerationEosIds);
        foreach (var t in KnownEndTokens)
            if (_addedByContent.TryGetValue(t, out var id)) eos.Add(id);
        EosIds = eos.Distinct().ToArray();
    }

    private static int[] Override(int[] template, int? id, bool? add, bool atStart)
    {
        if (id is not { } t || add is null) return template;
        if (add == false) return template.Where(x => x != t).ToArray();
        if (template.Contains(t)) return template;
        return atStart ? [t, .. template] : [.. template, t];
    }

    /// <summary>Which BPE this file describes: byte-level (Qwen, Llama 3) or sentencepiece-style (Llama 2, Gemma).</summary>
    public HfTokenizerKind Kind { get; }

    /// <summary>Max id + 1 over the model vocab and the added tokens (a model's embedding may be larger).</summary>
    public int VocabSize { get; }
    public string? BosToken { get; }
    public string? EosToken { get; }
    public string? PadToken { get; }
    public int? BosId { get; }
    public int? EosId { get; }

    /// <summary>Ids that end generation: eos, generation_config.json's eos ids, then chat end tokens present.</summary>
    public IReadOnlyList<int> EosIds { get; }

    /// <summary>pad_token's id, else eos_token's.</summary>
    public int PadId => _padId ?? EosId ?? throw new InvalidDataException(
        $"{_configSource} defines neither pad_token nor eos_token; add \"pad_token\" to it.");

    /// <summary>The Jinja chat template from tokenizer_config.json (or chat_template.jinja), if any.</summary>
    public string? ChatTemplate { get; }

    /// <summary>Ids the post-processor puts before a single sequence (Llama 3's &lt;|begin_of_text|&gt;; none for Qwen).</summary>
    public IReadOnlyList<int> SpecialPrefixIds => _prefixIds;
    public IReadOnlyList<int> SpecialSuffixIds => _suffixIds;

    /// <summary>Every <c>added_tokens</c> entry, content → id.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => _addedByContent;

    /// <summary>Loads tokenizer.json, tokenizer_config.json, and generation_config.json / chat_template.jinja when present.</summary>
    public static HfTokenizer Load(string modelDir)
    {
        var tokenizerPath = Path.Combine(modelDir, TokenizerFileName);
        var configPath = Path.Combine(modelDir, ConfigFileName);
        var generationPath = Path.Combine(modelDir, GenerationConfigFileName);
        var templatePath = Path.Combine(modelDir, ChatTemplateFileName);
        if (!File.Exists(tokenizerPath))
            throw new InvalidDataException($"{tokenizerPath} does not exist; point to a Hugging Face checkpoint folder that has a fast-tokenizer tokenizer.json.");
        if (!File.Exists(configPath))
            throw new InvalidDataException($"{configPath} does not exist; copy tokenizer_config.json from the checkpoint that tokenizer.json came from.");
        return Create(
            File.ReadAllBytes(tokenizerPath), tokenizerPath,
            File.ReadAllBytes(configPath), configPath,
            File.Exists(generationPath) ? File.ReadAllBytes(generationPath) : null, generationPath,
            File.Exists(templatePath) ? File.ReadAllText(templatePath) : null);
    }

    /// <summary>Builds a tokenizer from file contents (tests, and <see cref="ByteLevelBpeModel"/>); errors name the files as "tokenizer.json" etc.</summary>
    public static HfTokenizer FromJson(string tokenizerJson, string tokenizerConfigJson, string? generationConfigJson = null) =>
        Create(Encoding.UTF8.GetBytes(tokenizerJson), TokenizerFileName, Encoding.UTF8.GetBytes(tokenizerConfigJson), ConfigFileName,
            generationConfigJson is null ? null : Encoding.UTF8.GetBytes(generationConfigJson), GenerationConfigFileName, null);

    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens = false)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens) ids.AddRange(_prefixIds);
        EncodeInto(text, ids);
        if (addSpecialTokens) ids.AddRange(_suffixIds);
        return ids;
    }

    /// <summary>Like <see cref="Encode"/> (no bos/eos), but an added token marked <c>special</c> that appears in the
    /// text is encoded as the plain text it spells (Hugging Face's <c>split_special_tokens=True</c>): user content that
    /// contains "&lt;|im_end|&gt;" cannot close its turn. Non-special added tokens still match.</summary>
    public IReadOnlyList<int> EncodeSpecialAsText(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        EncodeInto(text, ids, specialAsText: true);
        return ids;
    }

    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        if (_decoder is not null) return DecodeWithSteps(ids, skipSpecialTokens);
        var sb = new StringBuilder();
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if (_addedById.TryGetValue(id, out var added))
            {
                if (skipSpecialTokens && added.Special) continue;
                Flush(bytes, sb);
                sb.Append(added.Content);
                continue;
            }
            if ((uint)id >= (uint)_idToToken.Length || _idToToken[id] is not { } token) continue;
            if (!ByteLevel.TryAppendBytes(token, bytes))
            {
                Flush(bytes, sb);
                sb.Append(token);
            }
        }
        Flush(bytes, sb);
        return sb.ToString();
    }

    /// <summary>HF's decode: ids to token strings (added tokens as their content), then the decoder chain, joined.</summary>
    private string DecodeWithSteps(IEnumerable<int> ids, bool skipSpecialTokens, bool piece = false)
    {
        var tokens = new List<string>();
        foreach (var id in ids)
        {
            if (_addedById.TryGetValue(id, out var added))
            {
                // Rust tests "special" on the surface, so it keeps a normalized special such as "▁<unk>"; we skip by id.
                if (!(skipSpecialTokens && added.Special)) tokens.Add(added.Surface);
            }
            else if ((uint)id < (uint)_idToToken.Length && _idToToken[id] is { } token) tokens.Add(token);
        }
        foreach (var step in _decoder!)
            tokens = !piece ? step.Apply(tokens)
                : step switch
                {
                    DecoderStep.Strip => tokens,
                    DecoderStep.Metaspace m => (m with { DropInFirst = false }).Apply(tokens),
                    _ => step.Apply(tokens),
                };
        return string.Concat(tokens);
    }

    /// <summary>
    /// Each id decoded on its own, for display and for lining text up with tokens; a token holding part of a UTF-8
    /// sequence shows U+FFFD. Sentencepiece "▁" shows as a space everywhere (the decoder's Strip / Metaspace drop of
    /// the text's first space is not applied), so the pieces concatenate to the text with its word boundaries.
    /// </summary>
    public IReadOnlyList<string> DecodePieces(IEnumerable<int> ids) =>
        ids.Select(id => _decoder is null ? Decode([id]) : DecodeWithSteps([id], skipSpecialTokens: false, piece: true)).ToArray();

    /// <summary>The vocab entry (byte-level form, e.g. "Ġworld") or added token content.</summary>
    public string IdToToken(int id) =>
        (uint)id < (uint)_idToToken.Length && _idToToken[id] is { } t
            ? t
            : throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is not in this tokenizer (vocab size {VocabSize}).");

    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var a) ? a : _vocab.TryGetValue(token, out var v) ? v : null;

    /// <summary>True for added tokens marked <c>special</c> (the ones <c>skipSpecialTokens</c> drops).</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var a) && a.Special;

    /// <summary>Like <see cref="Encode"/> (no bos/eos), for text that continues a longer text rather than starting it:
    /// a sentencepiece file's <c>Prepend("▁")</c> normalizer and Metaspace's prepend on the first piece are not applied
    /// to its opening stretch, so that encoding a prompt and its continuation separately gives the ids of the whole
    /// ("Answer:" + " Paris" → "▁Paris", not "▁▁Paris"). Byte-level files encode exactly as <see cref="Encode"/>.</summary>
    public IReadOnlyList<int> EncodeContinuation(string text, bool specialAsText = false)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        EncodeInto(text, ids, specialAsText, continuation: true);
        return ids;
    }

    private void EncodeInto(string text, List<int> ids, bool specialAsText = false, bool continuation = false)
    {
        // Hugging Face's AddedVocabulary: tokens with normalized=false are found in the raw text; each stretch between
        // them is normalized on its own (so Llama 2's Prepend("▁") starts every stretch), then tokens with
        // normalized=true are found in the normalized text (TinyStories-656K's <|end_story|>).
        foreach (var (start, end, rawId) in _rawAdded.Split(text, specialAsText))
        {
            if (rawId is { } a) { ids.Add(a); continue; }
            var normalized = text.Substring(start, end - start);
            var opening = start == 0;
            foreach (var step in _normalizer)
                if (!(continuation && opening && step is NormalizerStep.PrependStep)) normalized = step.Apply(normalized);
            foreach (var (nStart, nEnd, normId) in _normalizedAdded.Split(normalized, specialAsText))
            {
                if (normId is { } b) { ids.Add(b); continue; }
                EncodePiece(new PreToken(normalized.Substring(nStart, nEnd - nStart), !continuation && start == 0 && nStart == 0), ids);
            }
        }
    }

    private void EncodePiece(PreToken segment, List<int> ids)
    {
        List<PreToken> pieces = [segment];
        foreach (var step in _preTokenizer)
        {
            var next = new List<PreToken>(pieces.Count * 2);
            foreach (var p in pieces) step.Apply(p, next);
            pieces = next;
        }
        foreach (var (piece, _) in pieces)
        {
            if (_spBpe is not null) _spBpe.Encode(piece, ids);
            else if (_ignoreMerges && _vocab.TryGetValue(ByteLevel.Encode(piece), out var whole)) ids.Add(whole);
            else ids.AddRange(_bpe!.EncodeToIds(piece, considerPreTokenization: true, considerNormalization: false));
        }
    }

    /// <summary>Finds added tokens leftmost-longest (HF's Aho-Corasick), honouring lstrip/rstrip; single_word is ignored.</summary>
    private sealed class AddedMatcher
    {
        private readonly Dictionary<char, AddedToken[]> _byFirstChar;
        private readonly SearchValues<char> _firstChars;

        public AddedMatcher(IEnumerable<AddedToken> tokens)
        {
            _byFirstChar = tokens.Where(a => a.Surface.Length > 0).GroupBy(a => a.Surface[0])
                .ToDictionary(g => g.Key, g => g.OrderByDescending(a => a.Surface.Length).ToArray());
            _firstChars = SearchValues.Create(_byFirstChar.Keys.ToArray());
        }

        /// <summary>The text cut into non-empty stretches (Id null) and matched tokens (Id set), in order; with
        /// <paramref name="skipSpecial"/>, tokens marked special are left in the text (encoded as what they spell).</summary>
        public List<(int Start, int End, int? Id)> Split(string text, bool skipSpecial = false)
        {
            var result = new List<(int, int, int?)>();
            var segmentStart = 0;
            var pos = 0;
            while (_byFirstChar.Count > 0 && pos < text.Length)
            {
                var k = text.AsSpan(pos).IndexOfAny(_firstChars);
                if (k < 0) break;
                pos += k;
                var match = _byFirstChar[text[pos]].FirstOrDefault(a => !(skipSpecial && a.Special) && text.AsSpan(pos).StartsWith(a.Surface, StringComparison.Ordinal));
                if (match is null) { pos++; continue; }

                var segmentEnd = pos;
                var next = pos + match.Surface.Length;
                if (match.LStrip) while (segmentEnd > segmentStart && char.IsWhiteSpace(text[segmentEnd - 1])) segmentEnd--;
                if (match.RStrip) while (next < text.Length && char.IsWhiteSpace(text[next])) next++;
                if (segmentEnd > segmentStart) result.Add((segmentStart, segmentEnd, null));
                result.Add((pos, next, match.Id));
                segmentStart = pos = next;
            }
            if (text.Length > segmentStart) result.Add((segmentStart, text.Length, null));
            return result;
        }
    }

    private static void Flush(List<byte> bytes, StringBuilder sb)
    {
        if (bytes.Count == 0) return;
        sb.Append(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)));
        bytes.Clear();
    }

    private int? Resolve(string? token, string field)
    {
        if (token is null) return null;
        return TokenToId(token) ?? throw new InvalidDataException(
            $"{_configSource} sets {field} to \"{token}\", which is not in the vocabulary or added_tokens of tokenizer.json; fix {field} or use the matching tokenizer.json.");
    }

    // ---- loading ---------------------------------------------------------------------------------------

    private sealed record Parsed(
        HfTokenizerKind Kind, BpeTokenizer Bpe, SentencePieceBpe? SpBpe, IReadOnlyList<NormalizerStep> Normalizer,
        IReadOnlyList<PreTokenizerStep> PreTokenizer, IReadOnlyList<DecoderStep>? Decoder, bool IgnoreMerges, Dictionary<string, int> Vocab,
        List<AddedToken> Added, int[]? TemplatePrefix, int[]? TemplateSuffix,
        string? Bos, string? Eos, string? Pad, bool? AddBos, bool? AddEos, bool FlagsRebuildTemplate, string? ChatTemplate,
        List<int> GenerationEosIds, string ConfigSource);

    /// <summary>Hands the whole (already split) pre-token to the BPE model; ML.Tokenizers' default splits on whitespace.</summary>
    private sealed class WholeText : PreTokenizer
    {
        public static readonly WholeText Instance = new();
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
            string.IsNullOrEmpty(text) ? [] : [(0, text.Length)];
        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
            text.IsEmpty ? [] : [(0, text.Length)];
    }

    private static HfTokenizer Create(
        byte[] tokenizerJson, string tokenizerPath, byte[] configJson, string configPath,
        byte[]? generationJson, string generationPath, string? templateFile)
    {
        try
        {
            return Parse(tokenizerJson, tokenizerPath, configJson, configPath, generationJson, generationPath, templateFile);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            // JsonElement accessors throw these when a field has another JSON type than the format prescribes.
            throw new InvalidDataException(
                $"{tokenizerPath}, {configPath} or {generationPath} has a field of an unexpected JSON type ({e.Message}); re-export the tokenizer with save_pretrained.", e);
        }
    }

    private static HfTokenizer Parse(
        byte[] tokenizerJson, string tokenizerPath, byte[] configJson, string configPath,
        byte[]? generationJson, string generationPath, string? templateFile)
    {
        using var tok = ParseJson(tokenizerJson, tokenizerPath);
        using var cfg = ParseJson(configJson, configPath);
        using var gen = generationJson is null ? null : ParseJson(generationJson, generationPath);
        var root = tok.RootElement;
        string Where(string what) => $"{tokenizerPath} {what}";

        // model
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{tokenizerPath} has no \"model\" object; re-export it with a fast tokenizer (tokenizer.save_pretrained).");
        var type = GetString(model, "type") ?? (model.TryGetProperty("merges", out _) ? "BPE" : null);
        if (type != "BPE")
            throw new InvalidDataException(Where($"has model type \"{type}\", but only BPE is supported (byte-level as in Qwen and Llama 3, or sentencepiece-style as in Llama 2 and Gemma); use such a checkpoint."));
        if (!string.IsNullOrEmpty(GetString(model, "continuing_subword_prefix")) || !string.IsNullOrEmpty(GetString(model, "end_of_word_suffix")))
            throw new InvalidDataException(Where("sets continuing_subword_prefix or end_of_word_suffix, which is not supported; use a Qwen, Llama or Gemma tokenizer.json."));
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            throw new InvalidDataException(Where("sets a BPE dropout, which makes encoding random; set model.dropout to null."));
        if (!model.TryGetProperty("vocab", out var vocabJson) || vocabJson.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException(Where("has no model.vocab object; re-export it with tokenizer.save_pretrained."));
        var vocab = new Dictionary<string, int>(vocabJson.GetPropertyCount() + 16, StringComparer.Ordinal);
        foreach (var p in vocabJson.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0)
                throw new InvalidDataException(Where($"maps vocab entry \"{p.Name}\" to {p.Value.GetRawText()}, not a non-negative integer id; fix or re-download the file."));
            vocab[p.Name] = id;
        }

        // normalizer, pre-tokenizer, decoder: a ByteLevel pre-tokenizer or decoder makes it byte-level BPE.
        var normalizer = ReadNormalizer(root, tokenizerPath);
        var (preTokenizer, sawByteLevel) = ReadPreTokenizer(root, tokenizerPath);
        root.TryGetProperty("decoder", out var decoderJson);
        var kind = sawByteLevel || GetString(decoderJson, "type") == "ByteLevel" ? HfTokenizerKind.ByteLevelBpe : HfTokenizerKind.SentencePieceBpe;
        IReadOnlyList<DecoderStep>? decoder = null;
        var byteFallback = GetBool(model, "byte_fallback");
        if (kind == HfTokenizerKind.ByteLevelBpe)
        {
            if (!sawByteLevel)
                throw new InvalidDataException(Where("has a ByteLevel decoder but no ByteLevel pre-tokenizer; byte-level BPE needs Sequence[Split, ByteLevel] or ByteLevel, as in Qwen and Llama 3."));
            if (decoderJson.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null) && GetString(decoderJson, "type") != "ByteLevel")
                throw new InvalidDataException(Where($"has a ByteLevel pre-tokenizer with decoder type \"{GetString(decoderJson, "type")}\"; byte-level BPE needs the ByteLevel decoder, as in Qwen and Llama 3."));
            if (byteFallback)
                throw new InvalidDataException(Where("sets byte_fallback together with a ByteLevel pre-tokenizer, which never needs it; set model.byte_fallback to false."));
            if (normalizer.Any(n => n is not NormalizerStep.NfcStep))
                throw new InvalidDataException(Where("has a Prepend or Replace normalizer together with a ByteLevel pre-tokenizer; byte-level BPE takes only NFC (or none), as in Qwen and Llama 3."));
            foreach (var c in ByteLevel.Alphabet)
                if (!vocab.ContainsKey(c.ToString()))
                    throw new InvalidDataException(Where($"lacks the byte-level symbol \"{c}\" (U+{(int)c:X4}) in model.vocab, so it is not a byte-level BPE vocabulary; use a Qwen or Llama 3 tokenizer.json."));
        }
        else decoder = ReadDecoder(decoderJson, tokenizerPath);

        var merges = ReadMerges(model, tokenizerPath);
        var lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        var joined = new char[256];
        foreach (var m in merges)
        {
            var sp = m.IndexOf(' ');
            var ok = lookup.ContainsKey(m.AsSpan(0, sp)) && lookup.ContainsKey(m.AsSpan(sp + 1));
            if (ok)
            {
                if (joined.Length < m.Length) joined = new char[m.Length * 2];
                m.AsSpan(0, sp).CopyTo(joined);
                m.AsSpan(sp + 1).CopyTo(joined.AsSpan(sp));
                ok = lookup.ContainsKey(joined.AsSpan(0, m.Length - 1));
            }
            if (!ok) throw new InvalidDataException(Where($"has merge \"{m}\" whose parts or result are not in model.vocab; fix that merge or the vocab."));
        }

        // added tokens
        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedJson) && addedJson.ValueKind == JsonValueKind.Array)
            foreach (var a in addedJson.EnumerateArray())
            {
                var content = GetString(a, "content");
                if (string.IsNullOrEmpty(content) || !a.TryGetProperty("id", out var idJson)
                    || idJson.ValueKind != JsonValueKind.Number || !idJson.TryGetInt32(out var id) || id < 0)
                    throw new InvalidDataException(Where($"has an added_tokens entry without a non-empty content and an id ({a.GetRawText()}); fix that entry."));
                // HF's default for a missing "normalized" is !special.
                var normalized = a.TryGetProperty("normalized", out var n) && n.ValueKind is JsonValueKind.True or JsonValueKind.False
                    ? n.GetBoolean() : !GetBool(a, "special");
                var surface = content;
                if (normalized) foreach (var step in normalizer) surface = step.Apply(surface);
                added.Add(new AddedToken(id, content, GetBool(a, "special"), GetBool(a, "lstrip"), GetBool(a, "rstrip"), normalized, surface));
            }
        if (added.GroupBy(a => a.Id).FirstOrDefault(g => g.Count() > 1) is { } sameId)
            throw new InvalidDataException(Where($"lists id {sameId.Key} for more than one added token; give each added token its own id."));
        if (added.GroupBy(a => a.Content).FirstOrDefault(g => g.Count() > 1) is { } sameContent)
            throw new InvalidDataException(Where($"lists added token \"{sameContent.Key}\" more than once; remove the duplicate."));
        var addedContentById = added.ToDictionary(a => a.Id, a => a.Content);
        foreach (var (token, id) in vocab)
            if (addedContentById.TryGetValue(id, out var addedContent) && addedContent != token)
                throw new InvalidDataException(Where($"gives id {id} both to vocab entry \"{token}\" and to a different added token; fix the duplicate id."));

        // post-processor: TemplateProcessing's single template (possibly inside a Sequence) adds bos/eos.
        int[]? prefix = null, suffix = null;
        if (root.TryGetProperty("post_processor", out var post) && post.ValueKind == JsonValueKind.Object)
        {
            var template = GetString(post, "type") == "TemplateProcessing" ? post
                : GetString(post, "type") == "Sequence" && post.TryGetProperty("processors", out var procs)
                    ? procs.EnumerateArray().FirstOrDefault(x => GetString(x, "type") == "TemplateProcessing")
                    : default;
            if (template.ValueKind == JsonValueKind.Object)
                (prefix, suffix) = ReadTemplate(template, tokenizerPath);
        }

        var bpe = CreateBpe(vocab, merges, kind == HfTokenizerKind.ByteLevelBpe, tokenizerPath);
        SentencePieceBpe? spBpe = null;
        if (kind == HfTokenizerKind.SentencePieceBpe)
        {
            int? unkId = null;
            if (GetString(model, "unk_token") is { } unk)
                unkId = vocab.TryGetValue(unk, out var u) ? u : throw new InvalidDataException(Where($"sets model.unk_token to \"{unk}\", which is not in model.vocab; add it to the vocab or fix unk_token."));
            // Runs of known characters go to ML.Tokenizers' BPE on their own, which is exact only if no merge
            // touches a byte-fallback or unk token (true of every sentencepiece conversion: those are never merged).
            var unkToken = GetString(model, "unk_token");
            foreach (var m in merges)
            {
                var sp = m.IndexOf(' ');
                string l = m[..sp], r = m[(sp + 1)..];
                if (DecoderStep.TryParseByte(l, out _) || DecoderStep.TryParseByte(r, out _) || l == unkToken || r == unkToken)
                    throw new InvalidDataException(Where($"has merge \"{m}\" that joins a byte-fallback or unk token, which is not supported; remove that merge."));
            }
            spBpe = new SentencePieceBpe(bpe, vocab, byteFallback, unkId, GetBool(model, "fuse_unk"), GetBool(model, "ignore_merges"));
        }

        // tokenizer_config.json / generation_config.json
        var c0 = cfg.RootElement;
        if (c0.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{configPath} is not a JSON object; re-download tokenizer_config.json.");
        var chatTemplate = ReadChatTemplate(c0, configPath) ?? templateFile;
        var genEos = new List<int>();
        if (gen is not null && gen.RootElement.ValueKind == JsonValueKind.Object
            && gen.RootElement.TryGetProperty("eos_token_id", out var eosJson))
        {
            if (eosJson.ValueKind == JsonValueKind.Number) genEos.Add(eosJson.GetInt32());
            else if (eosJson.ValueKind == JsonValueKind.Array) genEos.AddRange(eosJson.EnumerateArray().Select(e => e.GetInt32()));
        }

        return new HfTokenizer(new Parsed(
            kind, bpe, spBpe, normalizer, preTokenizer, decoder, GetBool(model, "ignore_merges"), vocab, added, prefix, suffix,
            ReadSpecial(c0, "bos_token", configPath), ReadSpecial(c0, "eos_token", configPath), ReadSpecial(c0, "pad_token", configPath),
            GetOptionalBool(c0, "add_bos_token"), GetOptionalBool(c0, "add_eos_token"),
            GetString(c0, "tokenizer_class") is { } cls && (cls.StartsWith("Llama", StringComparison.Ordinal) || cls.StartsWith("Gemma", StringComparison.Ordinal)),
            chatTemplate, genEos, configPath));
    }

    private static JsonDocument ParseJson(byte[] json, string path)
    {
        try { return JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON ({e.Message}); re-download or regenerate it.", e);
        }
    }

    private static List<string> ReadMerges(JsonElement model, string path)
    {
        var merges = new List<string>();
        if (!model.TryGetProperty("merges", out var json) || json.ValueKind == JsonValueKind.Null) return merges;
        if (json.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{path} has model.merges that is not a list; re-export it with tokenizer.save_pretrained.");
        foreach (var m in json.EnumerateArray())
        {
            // "a b" (tokenizers < 0.20) or ["a", "b"] (>= 0.20). Byte-level symbols never contain a space.
            var pair = m.ValueKind switch
            {
                JsonValueKind.String => m.GetString() is { } line && line.IndexOf(' ') is var sp and > 0
                                        && sp == line.LastIndexOf(' ') && sp < line.Length - 1 ? line : null,
                JsonValueKind.Array when m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String
                                         && m[1].ValueKind == JsonValueKind.String
                                         && !m[0].GetString()!.Contains(' ') && !m[1].GetString()!.Contains(' ')
                    => $"{m[0].GetString()} {m[1].GetString()}",
                _ => null,
            };
            merges.Add(pair ?? throw new InvalidDataException(
                $"{path} has merge entry {m.GetRawText()}, which is neither \"a b\" nor [\"a\", \"b\"] with space-free symbols; fix that entry."));
        }
        return merges;
    }

    private static List<NormalizerStep> ReadNormalizer(JsonElement root, string path)
    {
        var result = new List<NormalizerStep>();
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return result;
        var steps = GetString(n, "type") == "Sequence" && n.TryGetProperty("normalizers", out var list)
            ? list.EnumerateArray().ToArray()
            : [n];
        foreach (var s in steps)
            result.Add(GetString(s, "type") switch
            {
                "NFC" => new NormalizerStep.NfcStep(),
                "Prepend" => new NormalizerStep.PrependStep(GetString(s, "prepend") ?? throw new InvalidDataException(
                    $"{path} has a Prepend normalizer without a \"prepend\" string; fix the normalizer.")),
                "Replace" => new NormalizerStep.ReplaceStep(LiteralPattern(s, "Replace normalizer", path), GetString(s, "content") ?? ""),
                var t => throw new InvalidDataException(
                    $"{path} has normalizer \"{t}\"; only NFC, Prepend and Replace (with a String pattern) are supported, as in Qwen, Llama and Gemma."),
            });
        return result;
    }

    private static string LiteralPattern(JsonElement step, string what, string path) =>
        step.TryGetProperty("pattern", out var pat) && GetString(pat, "String") is { Length: > 0 } literal
            ? literal
            : throw new InvalidDataException($"{path} has a {what} whose pattern is not a non-empty {{\"String\": ...}}; only literal patterns are supported there.");

    private static (List<PreTokenizerStep> Steps, bool SawByteLevel) ReadPreTokenizer(JsonElement root, string path)
    {
        var result = new List<PreTokenizerStep>();
        if (!root.TryGetProperty("pre_tokenizer", out var pt) || pt.ValueKind == JsonValueKind.Null) return (result, false);
        var steps = GetString(pt, "type") == "Sequence" && pt.TryGetProperty("pretokenizers", out var list)
            ? list.EnumerateArray().ToArray()
            : [pt];
        var sawByteLevel = false;
        foreach (var s in steps)
        {
            switch (GetString(s, "type"))
            {
                case "Split":
                    s.TryGetProperty("pattern", out var pat);
                    var behavior = GetString(s, "behavior");
                    if (GetBool(s, "invert"))
                        throw new InvalidDataException($"{path} has a Split pre-tokenizer with invert true, which is not supported; only the Qwen/Llama 3/Gemma forms are.");
                    if (GetString(pat, "String") is { Length: > 0 } literal
                        && Enum.TryParse<PreTokenizerStep.SplitBehavior>(behavior, ignoreCase: false, out var b))
                        result.Add(new PreTokenizerStep.StringSplit(literal, b));
                    else if (GetString(pat, "Regex") is { } source && behavior == "Isolated")
                        result.Add(new PreTokenizerStep.RegexIsolated(CompileSplit(source, path)));
                    else
                        throw new InvalidDataException($"{path} has a Split pre-tokenizer with pattern {pat.GetRawText()} and behavior \"{behavior}\"; only a Regex with Isolated, or a String with Isolated, Removed, MergedWithPrevious or MergedWithNext, is supported.");
                    break;
                case "ByteLevel":
                    sawByteLevel = true;
                    if (GetBool(s, "add_prefix_space"))
                        throw new InvalidDataException($"{path} has a ByteLevel pre-tokenizer with add_prefix_space true, which is not supported; set it to false (Qwen and Llama 3 do).");
                    if (!s.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False)
                        result.Add(new PreTokenizerStep.RegexIsolated(CompileSplit(Gpt2SplitRegex, path)));
                    break;
                case "Metaspace":
                    result.Add(new PreTokenizerStep.Metaspace(ReadReplacement(s, path), ReadPrependScheme(s, path),
                        !s.TryGetProperty("split", out var split) || split.ValueKind != JsonValueKind.False));
                    break;
                default:
                    throw new InvalidDataException($"{path} has pre-tokenizer \"{GetString(s, "type")}\"; only Split, ByteLevel and Metaspace are supported, as in Qwen, Llama and Gemma.");
            }
        }
        return (result, sawByteLevel);
    }

    private static string ReadReplacement(JsonElement metaspace, string path) =>
        GetString(metaspace, "replacement") is { } r && r.EnumerateRunes().Count() == 1
            ? r
            : throw new InvalidDataException($"{path} has a Metaspace step whose replacement is not one character; set \"replacement\": \"▁\".");

    /// <summary>"always" / "first" / "never", or the older add_prefix_space (true = always, false = never).</summary>
    private static string ReadPrependScheme(JsonElement metaspace, string path)
    {
        if (GetString(metaspace, "prepend_scheme") is { } scheme)
            return scheme is "always" or "first" or "never"
                ? scheme
                : throw new InvalidDataException($"{path} has a Metaspace prepend_scheme \"{scheme}\"; use \"always\", \"first\" or \"never\".");
        return !metaspace.TryGetProperty("add_prefix_space", out var add) || add.ValueKind != JsonValueKind.False ? "always" : "never";
    }

    private static List<DecoderStep> ReadDecoder(JsonElement decoder, string path)
    {
        var result = new List<DecoderStep>();
        if (decoder.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null) return result;
        var steps = GetString(decoder, "type") == "Sequence" && decoder.TryGetProperty("decoders", out var list)
            ? list.EnumerateArray().ToArray()
            : [decoder];
        foreach (var s in steps)
            result.Add(GetString(s, "type") switch
            {
                "Replace" => new DecoderStep.Replace(LiteralPattern(s, "Replace decoder", path), GetString(s, "content") ?? ""),
                "ByteFallback" => new DecoderStep.ByteFallback(),
                "Fuse" => new DecoderStep.Fuse(),
                "Strip" => new DecoderStep.Strip(
                    GetString(s, "content") is { } c && c.EnumerateRunes().Count() == 1 ? c : throw new InvalidDataException(
                        $"{path} has a Strip decoder whose content is not one character; fix the decoder."),
                    GetInt(s, "start"), GetInt(s, "stop")),
                "Metaspace" => new DecoderStep.Metaspace(ReadReplacement(s, path), ReadPrependScheme(s, path) != "never"),
                var t => throw new InvalidDataException(
                    $"{path} has decoder \"{t}\"; a sentencepiece-style tokenizer supports Replace, ByteFallback, Fuse, Strip and Metaspace, as in Llama 2 and Gemma."),
            });
        return result;
    }

    private static int GetInt(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) && i >= 0 ? i : 0;

    private static bool? GetOptionalBool(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? v.GetBoolean() : null;

    private static CodePointRegex CompileSplit(string pattern, string path)
    {
        try { return new CodePointRegex(pattern); }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path} has a Split regex that .NET cannot compile ({e.Message}); rewrite it without Oniguruma-only syntax such as possessive quantifiers.", e);
        }
    }

    private static (int[] Prefix, int[] Suffix) ReadTemplate(JsonElement template, string path)
    {
        var ids = new Dictionary<string, int[]>();
        if (template.TryGetProperty("special_tokens", out var specials) && specials.ValueKind == JsonValueKind.Object)
            foreach (var p in specials.EnumerateObject())
                ids[p.Name] = p.Value.TryGetProperty("ids", out var arr) ? arr.EnumerateArray().Select(x => x.GetInt32()).ToArray() : [];
        var prefix = new List<int>();
        var suffix = new List<int>();
        var seenSequence = false;
        if (template.TryGetProperty("single", out var single))
            foreach (var piece in single.EnumerateArray())
            {
                if (piece.TryGetProperty("Sequence", out _)) { seenSequence = true; continue; }
                if (!piece.TryGetProperty("SpecialToken", out var st) || GetString(st, "id") is not { } name || !ids.TryGetValue(name, out var tokenIds))
                    throw new InvalidDataException($"{path} has a TemplateProcessing piece {piece.GetRawText()} whose special token is not listed in special_tokens; fix the post_processor.");
                (seenSequence ? suffix : prefix).AddRange(tokenIds);
            }
        return (prefix.ToArray(), suffix.ToArray());
    }

    private static BpeTokenizer CreateBpe(Dictionary<string, int> vocab, List<string> merges, bool byteLevel, string path)
    {
        try
        {
            return BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges,
                ByteLevel = byteLevel,
                PreTokenizer = WholeText.Instance,
            });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            throw new InvalidDataException($"{path} has a vocab/merges pair that Microsoft.ML.Tokenizers rejects ({e.Message}); check that every merge joins two vocab entries.", e);
        }
    }

    private static string? ReadChatTemplate(JsonElement config, string path)
    {
        if (!config.TryGetProperty("chat_template", out var t) || t.ValueKind == JsonValueKind.Null) return null;
        if (t.ValueKind == JsonValueKind.String) return t.GetString();
        if (t.ValueKind == JsonValueKind.Array)
        {
            // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
            var entries = t.EnumerateArray().ToArray();
            var chosen = entries.FirstOrDefault(e => GetString(e, "name") == "default");
            if (chosen.ValueKind != JsonValueKind.Object && entries.Length > 0) chosen = entries[0];
            if (chosen.ValueKind == JsonValueKind.Object && GetString(chosen, "template") is { } s) return s;
        }
        throw new InvalidDataException($"{path} has a chat_template that is neither a string nor a list of {{\"name\", \"template\"}} objects; fix or remove chat_template.");
    }

    private static string? ReadSpecial(JsonElement config, string field, string path)
    {
        if (!config.TryGetProperty(field, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when GetString(v, "content") is { } content => content,
            _ => throw new InvalidDataException($"{path} has {field} = {v.GetRawText()}; it must be a string, null, or an object with \"content\"."),
        };
    }

    private static string? GetString(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool GetBool(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
}
