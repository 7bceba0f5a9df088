using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Compact.Tokenization;

/// <summary>
/// Learns a small byte-level BPE (GPT-2 byte alphabet, Qwen split regex, NFC) for our own student models and
/// writes it as a Hugging Face tokenizer.json that <see cref="HfTokenizer"/> and the Rust <c>tokenizers</c>
/// library both read.
/// </summary>
/// <remarks>
/// Ids: 0..255 are the bytes (id = byte value), 256.. each new merge result in the order learned, then the
/// special tokens. Each step merges the adjacent pair with the highest count summed over the corpus's pre-tokens
/// (merges never cross a pre-token or a special token); ties go to the pair whose (left, right) symbols come
/// first in byte order, so training is deterministic. Pair counts are updated incrementally: a merge only
/// revisits the words that contain its pair.
/// </remarks>
public static class ByteLevelBpeTrainer
{
    public static readonly IReadOnlyList<string> DefaultSpecialTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

    /// <summary>Qwen2/2.5/3's Split regex: one digit per pre-token, contractions, letters with one leading non-letter.</summary>
    public const string QwenSplitRegex =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>ChatML as Qwen2.5 writes it, without tools and without a default system prompt.</summary>
    public const string ChatMlTemplate =
        @"{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}";

    /// <summary>Llama 3's Split regex: like Qwen's, but numbers form pre-tokens of up to three digits, so frequent
    /// numbers can become single tokens.</summary>
    public const string Llama3SplitRegex =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <param name="vocabSize">Total ids: 256 bytes + merge results + special tokens. Training stops earlier when no pair reaches <paramref name="minFrequency"/>.</param>
    /// <param name="splitRegex">The pre-tokenizer pattern (default Qwen's); merges never cross its pieces.</param>
    public static ByteLevelBpeModel Train(
        IEnumerable<string> corpus, int vocabSize, IReadOnlyList<string>? specialTokens = null, int minFrequency = 2, string? splitRegex = null)
    {
        var specials = CheckSpecials(specialTokens ?? DefaultSpecialTokens);
        var targetNewTokens = vocabSize - 256 - specials.Count;
        if (targetNewTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize,
                $"vocabSize must be at least 256 bytes + {specials.Count} special tokens = {256 + specials.Count}.");
        if (minFrequency < 1) throw new ArgumentOutOfRangeException(nameof(minFrequency), minFrequency, "minFrequency must be at least 1.");

        var regex = splitRegex ?? QwenSplitRegex;
        var (words, counts) = CountWords(corpus, specials, regex);
        var merges = LearnMerges(words, counts, targetNewTokens, minFrequency);
        return Defaults(merges, specials) with { SplitRegex = regex };
    }

    /// <summary>No merges: one token per byte, plus the special tokens. Needs no corpus.</summary>
    public static ByteLevelBpeModel BytesOnly(IReadOnlyList<string>? specialTokens = null) =>
        Defaults([], CheckSpecials(specialTokens ?? DefaultSpecialTokens));

    private static IReadOnlyList<string> CheckSpecials(IReadOnlyList<string> specials) =>
        specials.Distinct().Count() == specials.Count && !specials.Any(string.IsNullOrEmpty)
            ? specials
            : throw new ArgumentException("Special tokens must be distinct and non-empty.", nameof(specials));

    private static ByteLevelBpeModel Defaults(IReadOnlyList<(string, string)> merges, IReadOnlyList<string> specials)
    {
        var eos = specials.Contains("<|im_end|>") ? "<|im_end|>" : (specials.Count > 0 ? specials[0] : null);
        var chatMl = specials.Contains("<|im_start|>") && specials.Contains("<|im_end|>");
        return new ByteLevelBpeModel
        {
            Merges = merges,
            SpecialTokens = specials.ToArray(),
            EosToken = eos,
            PadToken = specials.Contains("<|endoftext|>") ? "<|endoftext|>" : eos,
            ChatTemplate = chatMl ? ChatMlTemplate : null,
        };
    }

    private static (List<int[]> Words, List<long> Counts) CountWords(IEnumerable<string> corpus, IReadOnlyList<string> specials, string regex)
    {
        var split = new CodePointRegex(regex);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        var pieces = new List<(int Start, int Length)>();
        foreach (var doc in corpus)
            foreach (var part in SplitOnSpecials(doc, specials))
            {
                var text = Nfc.Normalize(part);
                pieces.Clear();
                split.Split(text, 0, text.Length, pieces);
                foreach (var (start, length) in pieces)
                {
                    var word = text.AsSpan(start, length);
                    lookup[word] = lookup.TryGetValue(word, out var c) ? c + 1 : 1;
                }
            }
        // Sorted so that everything downstream is independent of dictionary order.
        var sorted = counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        return (sorted.Select(kv => Encoding.UTF8.GetBytes(kv.Key).Select(b => (int)b).ToArray()).ToList(),
                sorted.Select(kv => kv.Value).ToList());
    }

    private static IEnumerable<string> SplitOnSpecials(string doc, IReadOnlyList<string> specials)
    {
        var start = 0;
        while (true)
        {
            int at = -1, len = 0;
            foreach (var s in specials)
            {
                var i = doc.IndexOf(s, start, StringComparison.Ordinal);
                if (i >= 0 && (at < 0 || i < at || (i == at && s.Length > len))) (at, len) = (i, s.Length);
            }
            if (at < 0) { yield return doc[start..]; yield break; }
            yield return doc[start..at];
            start = at + len;
        }
    }

    private static List<(string, string)> LearnMerges(List<int[]> words, List<long> counts, int targetNewTokens, int minFrequency)
    {
        var tokenBytes = Enumerable.Range(0, 256).Select(b => new[] { (byte)b }).ToList();
        var pairCounts = new Dictionary<long, long>();
        var pairWords = new Dictionary<long, HashSet<int>>();
        for (var w = 0; w < words.Count; w++) AddPairs(words[w], counts[w], w, pairCounts, pairWords);

        var order = Comparer<(long Count, long Pair)>.Create((x, y) =>
        {
            if (x.Count != y.Count) return y.Count.CompareTo(x.Count); // higher count first
            var c = tokenBytes[Left(x.Pair)].AsSpan().SequenceCompareTo(tokenBytes[Left(y.Pair)]);
            return c != 0 ? c : tokenBytes[Right(x.Pair)].AsSpan().SequenceCompareTo(tokenBytes[Right(y.Pair)]);
        });
        // Lazy max-heap: an entry is stale when its count no longer matches pairCounts.
        var heap = new PriorityQueue<long, (long Count, long Pair)>(order);
        foreach (var (pair, count) in pairCounts) heap.Enqueue(pair, (count, pair));

        var merges = new List<(string, string)>();
        // Two merges can spell the same symbol ("a"+"bc" and "ab"+"c"); the second reuses the first's id.
        var idOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var changed = new HashSet<long>();
        while (tokenBytes.Count - 256 < targetNewTokens && heap.TryDequeue(out var best, out var priority))
        {
            if (!pairCounts.TryGetValue(best, out var current) || current != priority.Count) continue;
            if (current < minFrequency) break;

            int a = Left(best), b = Right(best);
            var symbol = Symbol(tokenBytes[a]) + Symbol(tokenBytes[b]);
            if (!idOf.TryGetValue(symbol, out var merged))
            {
                idOf[symbol] = merged = tokenBytes.Count;
                tokenBytes.Add([.. tokenBytes[a], .. tokenBytes[b]]);
            }
            merges.Add((Symbol(tokenBytes[a]), Symbol(tokenBytes[b])));

            changed.Clear();
            foreach (var w in pairWords[best].Order())
            {
                var old = words[w];
                if (!Contains(old, a, b)) continue; // stale index entry
                AddPairs(old, -counts[w], -1, pairCounts, null, changed);
                var next = new List<int>(old.Length);
                for (var i = 0; i < old.Length; i++)
                {
                    if (i + 1 < old.Length && old[i] == a && old[i + 1] == b) { next.Add(merged); i++; }
                    else next.Add(old[i]);
                }
                words[w] = next.ToArray();
                AddPairs(words[w], counts[w], w, pairCounts, pairWords, changed);
            }
            pairWords.Remove(best);
            foreach (var p in changed)
                if (pairCounts.TryGetValue(p, out var c) && c > 0) heap.Enqueue(p, (c, p));
        }
        return merges;
    }

    private static void AddPairs(int[] word, long count, int w, Dictionary<long, long> pairCounts,
        Dictionary<long, HashSet<int>>? pairWords, HashSet<long>? changed = null)
    {
        for (var i = 0; i + 1 < word.Length; i++)
        {
            var pair = Pair(word[i], word[i + 1]);
            var c = pairCounts.GetValueOrDefault(pair) + count;
            if (c == 0) pairCounts.Remove(pair); else pairCounts[pair] = c;
            changed?.Add(pair);
            if (pairWords is not null)
            {
                if (!pairWords.TryGetValue(pair, out var set)) pairWords[pair] = set = [];
                set.Add(w);
            }
        }
    }

    private static bool Contains(int[] word, int a, int b)
    {
        for (var i = 0; i + 1 < word.Length; i++)
            if (word[i] == a && word[i + 1] == b) return true;
        return false;
    }

    private static long Pair(int left, int right) => ((long)left << 32) | (uint)right;
    private static int Left(long pair) => (int)(pair >> 32);
    private static int Right(long pair) => (int)(pair & 0xFFFFFFFF);
    private static string Symbol(byte[] bytes) => string.Concat(bytes.Select(ByteLevel.ToChar));
}

/// <summary>
/// A byte-level BPE learned by <see cref="ByteLevelBpeTrainer"/>: ids 0..255 are the bytes, then one id per
/// new merge result (<see cref="Symbols"/>), then <see cref="SpecialTokens"/>. Symbols are in the byte-level
/// alphabet ("Ġ" is a space). <c>with</c> changes bos/eos/pad or the chat template before saving.
/// </summary>
public sealed record ByteLevelBpeModel
{
    public required IReadOnlyList<(string Left, string Right)> Merges { get; init; }
    public required IReadOnlyList<string> SpecialTokens { get; init; }
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public string? PadToken { get; init; }
    public string? ChatTemplate { get; init; }
    /// <summary>The Split pre-tokenizer pattern written to tokenizer.json.</summary>
    public string SplitRegex { get; init; } = ByteLevelBpeTrainer.QwenSplitRegex;

    public int VocabSize => Symbols().Count + SpecialTokens.Count;

    /// <summary>The id of one of <see cref="SpecialTokens"/>.</summary>
    public int IdOf(string specialToken)
    {
        for (var i = 0; i < SpecialTokens.Count; i++)
            if (SpecialTokens[i] == specialToken) return Symbols().Count + i;
        throw new ArgumentException($"\"{specialToken}\" is not one of this model's special tokens.", nameof(specialToken));
    }

    /// <summary>Model vocab in id order: the 256 byte symbols, then each new merge result once.</summary>
    public IReadOnlyList<string> Symbols()
    {
        var symbols = ByteLevel.Alphabet.Select(c => c.ToString()).ToList();
        var seen = new HashSet<string>(symbols, StringComparer.Ordinal);
        foreach (var (left, right) in Merges)
            if (seen.Add(left + right)) symbols.Add(left + right);
        return symbols;
    }

    /// <summary>Writes tokenizer.json and tokenizer_config.json into <paramref name="dir"/> (created if needed).</summary>
    public void Save(string dir)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, HfTokenizer.TokenizerFileName), ToTokenizerJson());
        File.WriteAllText(Path.Combine(dir, HfTokenizer.ConfigFileName), ToTokenizerConfigJson());
    }

    public HfTokenizer ToTokenizer() => HfTokenizer.FromJson(ToTokenizerJson(), ToTokenizerConfigJson());

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // keep "Ġ" readable, as Hugging Face writes it
    };

    /// <summary>The same layout as Qwen2.5's tokenizer.json (NFC, Split + ByteLevel, ByteLevel decoder).</summary>
    public string ToTokenizerJson()
    {
        var symbols = Symbols();

        return Write(w =>
        {
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            for (var i = 0; i < SpecialTokens.Count; i++)
            {
                w.WriteStartObject();
                w.WriteNumber("id", symbols.Count + i);
                w.WriteString("content", SpecialTokens[i]);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("normalizer");
            w.WriteString("type", "NFC");
            w.WriteEndObject();
            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("pretokenizers");
            w.WriteStartObject();
            w.WriteString("type", "Split");
            w.WriteStartObject("pattern");
            w.WriteString("Regex", SplitRegex);
            w.WriteEndObject();
            w.WriteString("behavior", "Isolated");
            w.WriteBoolean("invert", false);
            w.WriteEndObject();
            WriteByteLevel(w, null);
            w.WriteEndArray();
            w.WriteEndObject();
            WriteByteLevel(w, "post_processor");
            WriteByteLevel(w, "decoder");
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteString("continuing_subword_prefix", "");
            w.WriteString("end_of_word_suffix", "");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            for (var i = 0; i < symbols.Count; i++) w.WriteNumber(symbols[i], i);
            w.WriteEndObject();
            // "a b" strings: readable by every tokenizers version (pairs need >= 0.20).
            w.WriteStartArray("merges");
            foreach (var (left, right) in Merges) w.WriteStringValue($"{left} {right}");
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    public string ToTokenizerConfigJson()
    {
        var symbolCount = Symbols().Count;
        return Write(w =>
    {
        w.WriteBoolean("add_bos_token", false);
        w.WriteBoolean("add_eos_token", false);
        w.WriteBoolean("add_prefix_space", false);
        w.WriteStartObject("added_tokens_decoder");
        for (var i = 0; i < SpecialTokens.Count; i++)
        {
            w.WriteStartObject((symbolCount + i).ToString(System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("content", SpecialTokens[i]);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteStartArray("additional_special_tokens");
        foreach (var s in SpecialTokens) w.WriteStringValue(s);
        w.WriteEndArray();
        WriteNullable(w, "bos_token", BosToken);
        WriteNullable(w, "chat_template", ChatTemplate);
        w.WriteBoolean("clean_up_tokenization_spaces", false);
        WriteNullable(w, "eos_token", EosToken);
        w.WriteString("errors", "replace");
        WriteNullable(w, "pad_token", PadToken);
        w.WriteBoolean("split_special_tokens", false);
        w.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
        w.WriteNull("unk_token");
    });
    }

    private static void WriteByteLevel(Utf8JsonWriter w, string? name)
    {
        if (name is null) w.WriteStartObject(); else w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name); else w.WriteString(name, value);
    }

    private static string Write(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, WriterOptions))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }
}
