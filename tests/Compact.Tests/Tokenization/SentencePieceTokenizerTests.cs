using System.Text.Json.Nodes;
using Compact.Tokenization;

namespace Compact.Tests.Tokenization;

/// <summary>
/// The sentencepiece-style tokenizer.json steps on a hand-written vocabulary small enough to work ids out by hand
/// (each expectation below was also checked against Hugging Face tokenizers 0.23.2, the Rust core):
/// <code>
/// 0 &lt;unk&gt;  1 &lt;s&gt;  2 &lt;/s&gt;  3 &lt;0xC3&gt;  4 &lt;0xA9&gt;   (é = C3 A9 has byte tokens; ü = C3 BC lacks &lt;0xBC&gt;)
/// 5 ▁  6 a  7 b  8 c  9 ▁a  10 ab  11 ▁ab  12 abc  13 bc  14 c▁  15 ca (no merge makes it)
/// merges by rank: 0 "▁ a", 1 "a b", 2 "▁a b", 3 "b c", 4 "ab c", 5 "c ▁"
/// </code>
/// </summary>
public class SentencePieceTokenizerTests
{
    private static JsonObject Json(JsonNode? normalizer = null, JsonNode? preTokenizer = null, JsonNode? decoder = null,
        bool fuseUnk = true, bool ignoreMerges = false, JsonObject? extraAdded = null)
    {
        var vocab = new JsonObject();
        string[] pieces = ["<unk>", "<s>", "</s>", "<0xC3>", "<0xA9>", "▁", "a", "b", "c", "▁a", "ab", "▁ab", "abc", "bc", "c▁", "ca"];
        for (var i = 0; i < pieces.Length; i++) vocab[pieces[i]] = i;
        var added = new JsonArray(Added(0, "<unk>"), Added(1, "<s>"), Added(2, "</s>"));
        if (extraAdded is not null) added.Add(extraAdded);
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = added,
            ["normalizer"] = normalizer,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                ["special_tokens"] = new JsonObject { ["<s>"] = new JsonObject { ["id"] = "<s>", ["ids"] = new JsonArray(1), ["tokens"] = new JsonArray("<s>") } },
            },
            ["decoder"] = decoder,
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = "<unk>",
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = fuseUnk,
                ["byte_fallback"] = true,
                ["ignore_merges"] = ignoreMerges,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(
                    new JsonArray("▁", "a"), new JsonArray("a", "b"), new JsonArray("▁a", "b"),
                    new JsonArray("b", "c"), new JsonArray("ab", "c"), new JsonArray("c", "▁")),
            },
        };
    }

    private static JsonObject Added(int id, string content, bool special = true, bool normalized = false) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
        ["normalized"] = normalized, ["special"] = special,
    };

    private static JsonObject Metaspace(string? scheme, bool? split = null, bool? addPrefixSpace = null)
    {
        var m = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁" };
        if (scheme is not null) m["prepend_scheme"] = scheme;
        if (split is not null) m["split"] = split;
        if (addPrefixSpace is not null) m["add_prefix_space"] = addPrefixSpace;
        return m;
    }

    private static JsonObject Legacy() => new()
    {
        ["type"] = "Sequence",
        ["normalizers"] = new JsonArray(
            new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
            new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
    };

    private static JsonObject LegacyDecoder() => new()
    {
        ["type"] = "Sequence",
        ["decoders"] = new JsonArray(
            new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
            new JsonObject { ["type"] = "ByteFallback" },
            new JsonObject { ["type"] = "Fuse" },
            new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
    };

    private static HfTokenizer Create(JsonObject json, string config = """{"bos_token": "<s>", "eos_token": "</s>"}""") =>
        HfTokenizer.FromJson(json.ToJsonString(), config);

    [Theory]
    // "ab c" → "▁ab▁c" → split "▁ab" | "▁c"; "▁ab": ▁ a b →(rank 0) ▁a b →(rank 2) ▁ab = 11; "▁c": no merge → 5 8.
    [InlineData("ab c", new[] { 11, 5, 8 })]
    // "ab" follows <s> (offset 3, not 0): "first" prepends nothing → a b →(rank 1) ab = 10.
    [InlineData("<s>ab", new[] { 1, 10 })]
    // "▁éü": é has byte tokens C3 A9 → 3 4; ü (C3 BC) lacks <0xBC> → <unk>.
    [InlineData("éü", new[] { 5, 3, 4, 0 })]
    // Two unknown characters fuse into one <unk> (fuse_unk).
    [InlineData("üü", new[] { 5, 0 })]
    // The Rust BPE writes a pending <unk> only when the next known character comes, after any byte tokens.
    [InlineData("üéa", new[] { 5, 3, 4, 0, 6 })]
    // "c b" → "▁c" | "▁b": the merge "c ▁" never sees across the split.
    [InlineData("c b", new[] { 5, 8, 5, 7 })]
    [InlineData("", new int[0])]
    public void Metaspace_first_with_split(string text, int[] expected) =>
        Assert.Equal(expected, Create(Json(preTokenizer: Metaspace("first", split: true))).Encode(text));

    [Fact]
    public void Unfused_unknowns_stay_apart() =>
        Assert.Equal([5, 0, 0], Create(Json(preTokenizer: Metaspace("first", split: true), fuseUnk: false)).Encode("üü"));

    [Fact]
    public void Metaspace_always_without_split()
    {
        var tok = Create(Json(preTokenizer: Metaspace("always", split: false)));
        Assert.Equal([1, 11], tok.Encode("<s>ab"));       // "always" prepends after <s> too
        Assert.Equal([5, 14, 7], tok.Encode("c b"));      // one word "▁c▁b": ▁ c ▁ b →(rank 5) ▁ c▁ b
        Assert.Equal([11], tok.Encode(" ab"));            // already starts with ▁: nothing prepended
    }

    [Fact]
    public void Metaspace_older_add_prefix_space_form_means_always_and_split()
    {
        var tok = Create(Json(preTokenizer: Metaspace(scheme: null, addPrefixSpace: true)));
        Assert.Equal([1, 11], tok.Encode("<s>ab"));
        Assert.Equal([5, 8, 5, 7], tok.Encode("c b"));
        // add_prefix_space false (which tokenizers 0.23 no longer loads without a matching prepend_scheme) means never.
        Assert.Equal([10], Create(Json(preTokenizer: Metaspace(scheme: null, addPrefixSpace: false))).Encode("ab"));
    }

    [Fact]
    public void Ignore_merges_takes_a_whole_word_from_the_vocab()
    {
        var never = Metaspace("never", split: true);
        Assert.Equal([15], Create(Json(preTokenizer: never, ignoreMerges: true)).Encode("ca"));
        Assert.Equal([8, 10], Create(Json(preTokenizer: Metaspace("never", split: true), ignoreMerges: true)).Encode("cab"));  // not in vocab: BPE
        Assert.Equal([8, 6], Create(Json(preTokenizer: Metaspace("never", split: true))).Encode("ca"));
    }

    [Fact]
    public void Legacy_prepend_normalizer_and_its_decoders()
    {
        var tok = Create(Json(normalizer: Legacy(), decoder: LegacyDecoder(), extraAdded: Added(16, "<x>", special: false, normalized: true)));
        Assert.Equal(HfTokenizerKind.SentencePieceBpe, tok.Kind);
        Assert.Equal([11, 5, 8], tok.Encode("ab c"));     // "▁ab▁c": ▁ a b ▁ c →(0) ▁a b ▁ c →(2) ▁ab ▁ c
        Assert.Equal([1, 11], tok.Encode("<s>ab"));       // every stretch between added tokens gets its own "▁"
        Assert.Equal([5, 11], tok.Encode(" ab"));         // Prepend even before a space: ▁ ▁ a b
        // A normalized added token is stored normalized ("▁<x>"), so it is found only after a space or at the start.
        Assert.Equal([9, 16], tok.Encode("a <x>"));
        Assert.Equal([9, 0], tok.Encode("a<x>"));         // "<", "x", ">" are unknown and have no byte tokens: one fused <unk>
        Assert.Equal([1, 11], tok.Encode("ab", addSpecialTokens: true));

        Assert.Equal(" c", tok.Decode([5, 5, 8]));        // "  c", Strip removes one leading space
        Assert.Equal("é", tok.Decode([3, 4]));
        Assert.Equal("\uFFFD", tok.Decode([3]));          // a broken byte run: one U+FFFD per byte
        Assert.Equal("\uFFFDa", tok.Decode([3, 6]));
        Assert.Equal("\uFFFD\uFFFD", tok.Decode([4, 3]));
        Assert.Equal("<x>", tok.Decode([16]));            // "▁<x>" → " <x>" → stripped
        Assert.Equal("a <x>", tok.Decode([9, 16]));
        Assert.Equal("<s> a", tok.Decode([1, 9]));        // Fuse first, so Strip sees "<s> a"
        Assert.Equal("a", tok.Decode([1, 9], skipSpecialTokens: true));
    }

    [Fact]
    public void Pieces_keep_their_spaces_so_they_line_up_with_the_text()
    {
        // "a bc" → "▁a▁bc" → ▁a ▁ bc; the Strip decoder would turn "▁a" alone into "a".
        var legacy = Create(Json(normalizer: Legacy(), decoder: LegacyDecoder()));
        Assert.Equal([9, 5, 13], legacy.Encode("a bc"));
        Assert.Equal([" a", " ", "bc"], legacy.DecodePieces([9, 5, 13]));
        var metaspace = Create(Json(preTokenizer: Metaspace("always", split: true), decoder: Metaspace("always", split: true)));
        Assert.Equal([" a", " ", "bc"], metaspace.DecodePieces([9, 5, 13]));
        Assert.Equal(["\uFFFD", "\uFFFD"], legacy.DecodePieces([3, 4]));   // half of é each
    }

    [Fact]
    public void Metaspace_decoder_drops_the_replacement_in_the_first_token_only()
    {
        var tok = Create(Json(preTokenizer: Metaspace("always", split: true), decoder: Metaspace("always", split: true)));
        Assert.Equal("ab c", tok.Decode([11, 5, 8]));
        Assert.Equal(" c", tok.Decode([5, 5, 8]));
        Assert.Equal("c a", tok.Decode([14, 9]));         // every "▁" of the first token goes, "c▁" → "c"
        Assert.Equal("<s> ab", tok.Decode([1, 11]));
    }

    [Theory]
    // transformers' LlamaTokenizerFast/GemmaTokenizerFast rebuild the template from add_bos_token/add_eos_token.
    [InlineData("LlamaTokenizer", "false", "false", new[] { 11 })]
    [InlineData("GemmaTokenizer", "true", "true", new[] { 1, 11, 2 })]
    // Other classes keep what the file's TemplateProcessing says (BOS only).
    [InlineData("PreTrainedTokenizerFast", "false", "true", new[] { 1, 11 })]
    public void Add_bos_and_eos_flags_of_llama_and_gemma_classes_win(string cls, string bos, string eos, int[] expected)
    {
        var config = $$"""{"bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "{{cls}}", "add_bos_token": {{bos}}, "add_eos_token": {{eos}}}""";
        Assert.Equal(expected, Create(Json(normalizer: Legacy()), config).Encode("ab", addSpecialTokens: true));
    }

    [Fact]
    public void Unsupported_steps_name_the_file_and_the_fix()
    {
        var regexReplace = Json(normalizer: new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["Regex"] = " {2,}" }, ["content"] = " " });
        var e = Assert.Throws<InvalidDataException>(() => Create(regexReplace));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("String", e.Message);

        var byteMerge = Json();
        ((JsonArray)byteMerge["model"]!["merges"]!).Add(new JsonArray("<0xC3>", "<0xA9>"));
        ((JsonObject)byteMerge["model"]!["vocab"]!)["<0xC3><0xA9>"] = 16;
        Assert.Contains("byte-fallback", Assert.Throws<InvalidDataException>(() => Create(byteMerge)).Message);
    }
}

public class SentencePieceImportTests
{
    // A ModelProto with one piece "a" (score -1, NORMAL) and a trainer_spec giving only model_type:
    // 0A 0A {0A 01 'a' | 15 00 00 80 BF | 18 01} 12 02 {18 type}
    private static byte[] OnePieceModel(byte modelType) =>
        [0x0A, 0x0A, 0x0A, 0x01, (byte)'a', 0x15, 0x00, 0x00, 0x80, 0xBF, 0x18, 0x01, 0x12, 0x02, 0x18, modelType];

    [Fact]
    public void Special_ids_outside_the_pieces_are_refused()
    {
        // BPE, but bos_id/eos_id keep their proto defaults 1 and 2, outside the single piece.
        var e = Assert.Throws<CompactException>(() => SentencePieceImport.ReadModelProto(OnePieceModel(2), "one.model"));
        Assert.Equal("one.model sets bos_id = 1, outside its 1 pieces; the model file is damaged.", e.Message);
    }

    [Fact]
    public void A_unigram_model_is_refused()
    {
        var e = Assert.Throws<CompactException>(() => SentencePieceImport.ReadModelProto(OnePieceModel(1), "uni.model"));
        Assert.StartsWith("uni.model is a sentencepiece unigram model;", e.Message);
    }

    [Fact]
    public void Truncated_files_name_the_file()
    {
        var dir = SharedModels.Dir("stories260K");
        var model = File.ReadAllBytes(Path.Combine(dir, "tok512.model"));
        Assert.StartsWith("tok512.model is not a readable sentencepiece model",
            Assert.Throws<CompactException>(() => SentencePieceImport.ReadModelProto(model.AsSpan(0, 100), "tok512.model")).Message);
        var bin = File.ReadAllBytes(Path.Combine(dir, "tok512.bin"));
        Assert.StartsWith("tok512.bin ends inside piece",
            Assert.Throws<CompactException>(() => SentencePieceImport.ReadLlama2cTokenizer(bin.AsSpan(0, 99), "tok512.bin")).Message);
    }

    [Fact]
    public void Tok512_pieces_as_llama2c_wrote_them()
    {
        // tok512.model: 3 specials, 256 byte pieces <0x00>..<0xFF> (ids 3..258), then 253 merged pieces; BPE with
        // byte_fallback, add_dummy_prefix on (the proto default; its normalizer_spec sets only name "identity").
        var m = SentencePieceImport.ReadModelProto(File.ReadAllBytes(Path.Combine(SharedModels.Dir("stories260K"), "tok512.model")), "tok512.model");
        Assert.Equal(512, m.Pieces.Count);
        Assert.Equal((0, 1, 2, true, true), (m.UnkId, m.BosId, m.EosId, m.ByteFallback, m.AddDummyPrefix));
        Assert.Equal(new SentencePieceModel.Piece("<unk>", 0, SentencePieceType.Unknown), m.Pieces[0]);
        Assert.Equal(new SentencePieceModel.Piece("<s>", 0, SentencePieceType.Control), m.Pieces[1]);
        Assert.Equal(SentencePieceType.Byte, m.Pieces[3].Type);
        Assert.Equal("<0x00>", m.Pieces[3].Text);
        Assert.Equal("<0xFF>", m.Pieces[258].Text);
        Assert.Equal(SentencePieceType.Normal, m.Pieces[259].Type);
    }
}
