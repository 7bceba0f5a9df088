using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Compact.Tokenization;

/// <summary>
/// A Hugging Face byte-level BPE tokenizer (Qwen2/2.5/3, Llama 3, and the ones <see cref="ByteLevelBpeTrainer"/>
/// writes) read from a checkpoint folder, giving the same ids as the Rust <c>tokenizers</c> library.
/// </summary>
/// <remarks>
/// Pipeline, in Hugging Face's order: split <c>added_tokens</c> out of the raw text (leftmost, longest first;
/// <c>lstrip</c>/<c>rstrip</c> honoured, <c>single_word</c> ignored) → NFC on the text between them when the
/// normalizer asks for it → the Split regex, Isolated, on code points (<see cref="CodePointRegex"/>) → per
/// pre-token: its own id when <c>ignore_merges</c> is set and the vocab has it (Llama 3), else
/// Microsoft.ML.Tokenizers' byte-level BPE. <see cref="Decode"/> maps tokens back through the byte alphabet and
/// reads UTF-8 leniently (a broken sequence becomes U+FFFD), without <c>clean_up_tokenization_spaces</c>;
/// unknown ids are skipped, as in Hugging Face.
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

    private sealed record AddedToken(int Id, string Content, bool Special, bool LStrip, bool RStrip);

    private readonly BpeTokenizer _bpe;
    private readonly IReadOnlyList<CodePointRegex> _splits;
    private readonly bool _nfc;
    private readonly bool _ignoreMerges;
    private readonly Dictionary<string, int> _vocab;
    private readonly string?[] _idToToken;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, int> _addedByContent;
    private readonly Dictionary<char, AddedToken[]> _addedByFirstChar;
    private readonly SearchValues<char> _addedFirstChars;
    private readonly int[] _prefixIds;
    private readonly int[] _suffixIds;
    private readonly int? _padId;
    private readonly string _configSource;

    private HfTokenizer(Parsed p)
    {
        _bpe = p.Bpe;
        _splits = p.Splits;
        _nfc = p.Nfc;
        _ignoreMerges = p.IgnoreMerges;
        _vocab = p.Vocab;
        _addedById = p.Added.ToDictionary(a => a.Id);
        _addedByContent = p.Added.ToDictionary(a => a.Content, a => a.Id);
        _addedByFirstChar = p.Added.GroupBy(a => a.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(a => a.Content.Length).ToArray());
        _addedFirstChars = SearchValues.Create(_addedByFirstChar.Keys.ToArray());

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
            _prefixIds = p.TemplatePrefix;
            _suffixIds = p.TemplateSuffix!;
        }
        else
        {
            _prefixIds = p.AddBos && BosId is { } b ? [b] : [];
            _suffixIds = p.AddEos && EosId is { } e ? [e] : [];
        }

        var eos = new List<int>();
        if (EosId is { } eosId) eos.Add(eosId);
        eos.AddRange(p.GenerationEosIds);
        foreach (var t in KnownEndTokens)
            if (_addedByContent.TryGetValue(t, out var id)) eos.Add(id);
        EosIds = eos.Distinct().ToArray();
    }

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

    /// <summary>Each id decoded on its own, for display; a token holding part of a UTF-8 sequence shows U+FFFD.</summary>
    public IReadOnlyList<string> DecodePieces(IEnumerable<int> ids) => ids.Select(id => Decode([id])).ToArray();

    /// <summary>The vocab entry (byte-level form, e.g. "Ġworld") or added token content.</summary>
    public string IdToToken(int id) =>
        (uint)id < (uint)_idToToken.Length && _idToToken[id] is { } t
            ? t
            : throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is not in this tokenizer (vocab size {VocabSize}).");

    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var a) ? a : _vocab.TryGetValue(token, out var v) ? v : null;

    /// <summary>True for added tokens marked <c>special</c> (the ones <c>skipSpecialTokens</c> drops).</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var a) && a.Special;

    private void EncodeInto(string text, List<int> ids, bool specialAsText = false)
    {
        var segmentStart = 0;
        var pos = 0;
        while (pos < text.Length)
        {
            var k = text.AsSpan(pos).IndexOfAny(_addedFirstChars);
            if (k < 0) break;
            pos += k;
            var match = MatchAddedAt(text, pos, specialAsText);
            if (match is null) { pos++; continue; }

            var segmentEnd = pos;
            var next = pos + match.Content.Length;
            if (match.LStrip) while (segmentEnd > segmentStart && char.IsWhiteSpace(text[segmentEnd - 1])) segmentEnd--;
            if (match.RStrip) while (next < text.Length && char.IsWhiteSpace(text[next])) next++;
            EncodeText(text.AsSpan(segmentStart, segmentEnd - segmentStart), ids);
            ids.Add(match.Id);
            segmentStart = pos = next;
        }
        EncodeText(text.AsSpan(segmentStart), ids);
    }

    private AddedToken? MatchAddedAt(string text, int pos, bool skipSpecial = false)
    {
        foreach (var a in _addedByFirstChar[text[pos]])
            if (!(skipSpecial && a.Special) && text.AsSpan(pos).StartsWith(a.Content, StringComparison.Ordinal)) return a;
        return null;
    }

    private void EncodeText(ReadOnlySpan<char> raw, List<int> ids)
    {
        if (raw.IsEmpty) return;
        var text = _nfc ? Nfc.Normalize(raw.ToString()) : raw.ToString();
        var pieces = new List<(int Start, int Length)> { (0, text.Length) };
        foreach (var regex in _splits)
        {
            var next = new List<(int, int)>(pieces.Count * 2);
            foreach (var (start, length) in pieces) regex.Split(text, start, length, next);
            pieces = next;
        }
        foreach (var (start, length) in pieces)
        {
            var piece = text.AsSpan(start, length);
            if (_ignoreMerges && _vocab.TryGetValue(ByteLevel.Encode(piece), out var whole)) ids.Add(whole);
            else ids.AddRange(_bpe.EncodeToIds(piece, considerPreTokenization: true, considerNormalization: false));
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
        BpeTokenizer Bpe, IReadOnlyList<CodePointRegex> Splits, bool Nfc, bool IgnoreMerges, Dictionary<string, int> Vocab,
        List<AddedToken> Added, int[]? TemplatePrefix, int[]? TemplateSuffix,
        string? Bos, string? Eos, string? Pad, bool AddBos, bool AddEos, string? ChatTemplate,
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
            throw new InvalidDataException(Where($"has model type \"{type}\", but only byte-level BPE is supported; use a Qwen2/Qwen2.5/Qwen3 or Llama 3 checkpoint."));
        if (GetBool(model, "byte_fallback") || !string.IsNullOrEmpty(GetString(model, "continuing_subword_prefix"))
            || !string.IsNullOrEmpty(GetString(model, "end_of_word_suffix")))
            throw new InvalidDataException(Where("uses byte_fallback, continuing_subword_prefix or end_of_word_suffix, which byte-level BPE does not; use a Qwen or Llama 3 tokenizer.json."));
        if (!model.TryGetProperty("vocab", out var vocabJson) || vocabJson.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException(Where("has no model.vocab object; re-export it with tokenizer.save_pretrained."));
        var vocab = new Dictionary<string, int>(vocabJson.GetPropertyCount() + 16, StringComparer.Ordinal);
        foreach (var p in vocabJson.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0)
                throw new InvalidDataException(Where($"maps vocab entry \"{p.Name}\" to {p.Value.GetRawText()}, not a non-negative integer id; fix or re-download the file."));
            vocab[p.Name] = id;
        }
        foreach (var c in ByteLevel.Alphabet)
            if (!vocab.ContainsKey(c.ToString()))
                throw new InvalidDataException(Where($"lacks the byte-level symbol \"{c}\" (U+{(int)c:X4}) in model.vocab, so it is not a byte-level BPE vocabulary; use a Qwen or Llama 3 tokenizer.json."));
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

        // normalizer, pre-tokenizer, decoder, post-processor
        var nfc = ReadNormalizer(root, tokenizerPath);
        var splits = ReadPreTokenizer(root, tokenizerPath);
        if (root.TryGetProperty("decoder", out var decoder) && decoder.ValueKind != JsonValueKind.Null
            && GetString(decoder, "type") != "ByteLevel")
            throw new InvalidDataException(Where($"has decoder type \"{GetString(decoder, "type")}\"; only ByteLevel is supported, as in Qwen and Llama 3."));

        // added tokens
        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedJson) && addedJson.ValueKind == JsonValueKind.Array)
            foreach (var a in addedJson.EnumerateArray())
            {
                var content = GetString(a, "content");
                if (string.IsNullOrEmpty(content) || !a.TryGetProperty("id", out var idJson)
                    || idJson.ValueKind != JsonValueKind.Number || !idJson.TryGetInt32(out var id) || id < 0)
                    throw new InvalidDataException(Where($"has an added_tokens entry without a non-empty content and an id ({a.GetRawText()}); fix that entry."));
                added.Add(new AddedToken(id, content, GetBool(a, "special"), GetBool(a, "lstrip"), GetBool(a, "rstrip")));
            }
        if (added.GroupBy(a => a.Id).FirstOrDefault(g => g.Count() > 1) is { } sameId)
            throw new InvalidDataException(Where($"lists id {sameId.Key} for more than one added token; give each added token its own id."));
        if (added.GroupBy(a => a.Content).FirstOrDefault(g => g.Count() > 1) is { } sameContent)
            throw new InvalidDataException(Where($"lists added token \"{sameContent.Key}\" more than once; remove the duplicate."));
        var addedIds = added.Select(a => a.Id).ToHashSet();
        foreach (var (token, id) in vocab.ToArray())
            if (addedIds.Contains(id) && !added.Any(a => a.Id == id && a.Content == token))
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

        var bpe = CreateBpe(vocab, merges, tokenizerPath);

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
            bpe, splits, nfc, GetBool(model, "ignore_merges"), vocab, added, prefix, suffix,
            ReadSpecial(c0, "bos_token", configPath), ReadSpecial(c0, "eos_token", configPath), ReadSpecial(c0, "pad_token", configPath),
            GetBool(c0, "add_bos_token"), GetBool(c0, "add_eos_token"), chatTemplate, genEos, configPath));
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

    private static bool ReadNormalizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return false;
        var steps = GetString(n, "type") == "Sequence" && n.TryGetProperty("normalizers", out var list)
            ? list.EnumerateArray().ToArray()
            : [n];
        foreach (var s in steps)
            if (GetString(s, "type") != "NFC")
                throw new InvalidDataException($"{path} has normalizer \"{GetString(s, "type")}\"; only NFC (or none) is supported, as in Qwen and Llama 3.");
        return steps.Length > 0;
    }

    private static IReadOnlyList<CodePointRegex> ReadPreTokenizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pt) || pt.ValueKind == JsonValueKind.Null)
            throw new InvalidDataException($"{path} has no pre_tokenizer; byte-level BPE needs Sequence[Split, ByteLevel] or ByteLevel, as in Qwen and Llama 3.");
        var steps = GetString(pt, "type") == "Sequence" && pt.TryGetProperty("pretokenizers", out var list)
            ? list.EnumerateArray().ToArray()
            : [pt];
        var regexes = new List<CodePointRegex>();
        var sawByteLevel = false;
        foreach (var s in steps)
        {
            switch (GetString(s, "type"))
            {
                case "Split":
                    s.TryGetProperty("pattern", out var pat);
                    var source = pat.ValueKind == JsonValueKind.Object
                        ? GetString(pat, "Regex") ?? (GetString(pat, "String") is { } lit ? Regex.Escape(lit) : null)
                        : null;
                    if (source is null || GetString(s, "behavior") != "Isolated" || GetBool(s, "invert"))
                        throw new InvalidDataException($"{path} has a Split pre-tokenizer other than a Regex/String pattern with behavior Isolated and invert false; only the Qwen/Llama 3 form is supported.");
                    regexes.Add(CompileSplit(source, path));
                    break;
                case "ByteLevel":
                    sawByteLevel = true;
                    if (GetBool(s, "add_prefix_space"))
                        throw new InvalidDataException($"{path} has a ByteLevel pre-tokenizer with add_prefix_space true, which is not supported; set it to false (Qwen and Llama 3 do).");
                    if (!s.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False)
                        regexes.Add(CompileSplit(Gpt2SplitRegex, path));
                    break;
                default:
                    throw new InvalidDataException($"{path} has pre-tokenizer \"{GetString(s, "type")}\"; only Split and ByteLevel are supported, as in Qwen and Llama 3.");
            }
        }
        if (!sawByteLevel)
            throw new InvalidDataException($"{path} has no ByteLevel pre-tokenizer, so it is not byte-level BPE; use a Qwen or Llama 3 tokenizer.json.");
        return regexes;
    }

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

    private static BpeTokenizer CreateBpe(Dictionary<string, int> vocab, List<string> merges, string path)
    {
        try
        {
            return BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges,
                ByteLevel = true,
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
