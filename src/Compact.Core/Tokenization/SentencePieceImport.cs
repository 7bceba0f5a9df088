using System.Buffers.Binary;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Compact.Tokenization;

/// <summary>sentencepiece's <c>ModelProto.SentencePiece.Type</c>.</summary>
public enum SentencePieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

/// <summary>A sentencepiece BPE model: pieces in id order with their scores and types, and the special ids.</summary>
public sealed record SentencePieceModel(
    IReadOnlyList<SentencePieceModel.Piece> Pieces, int UnkId, int BosId, int EosId, bool ByteFallback, bool AddDummyPrefix)
{
    public sealed record Piece(string Text, float Score, SentencePieceType Type);
}

/// <summary>
/// Turns a sentencepiece BPE tokenizer (a <c>tokenizer.model</c> / llama2.c <c>tok512.model</c> protobuf, or
/// llama2.c's own <c>tok512.bin</c>) into the Hugging Face tokenizer.json that transformers' LlamaTokenizerFast
/// conversion (LlamaConverter, legacy mode) writes: BPE over the pieces with byte_fallback and fuse_unk, merges
/// derived from the piece scores, normalizer Prepend("▁") + Replace(" " → "▁"), post-processor TemplateProcessing
/// with BOS, decoders Replace("▁" → " "), ByteFallback, Fuse, Strip(" ", 1, 0). <see cref="HfTokenizer"/> reads the result.
/// </summary>
/// <remarks>
/// The protobuf is read by hand: Microsoft.ML.Tokenizers parses the same file inside SentencePieceTokenizer but
/// exposes neither the piece scores nor the piece types, which the merges and the added tokens are made from.
/// </remarks>
public static class SentencePieceImport
{
    /// <summary>tokenizer.json text for the sentencepiece model file <paramref name="modelBytes"/> (a .model protobuf).</summary>
    public static string TokenizerJsonFromModel(ReadOnlySpan<byte> modelBytes, string source = "tokenizer.model") =>
        ToTokenizerJson(ReadModelProto(modelBytes, source));

    /// <summary>Parses a sentencepiece <c>ModelProto</c> (pieces, trainer_spec ids and byte_fallback, normalizer_spec add_dummy_prefix).</summary>
    public static SentencePieceModel ReadModelProto(ReadOnlySpan<byte> bytes, string source)
    {
        var pieces = new List<SentencePieceModel.Piece>();
        int unk = 0, bos = 1, eos = 2;
        var modelType = 1; // UNIGRAM is the proto default
        bool byteFallback = false, addDummyPrefix = true;
        try
        {
            var r = new ProtoReader(bytes);
            while (r.Next(out var field, out var wire))
            {
                if (field == 1 && wire == 2) pieces.Add(ReadPiece(r.Bytes()));
                else if (field == 2 && wire == 2)
                {
                    var t = new ProtoReader(r.Bytes());
                    while (t.Next(out var f, out var w))
                        switch (f)
                        {
                            case 3 when w == 0: modelType = (int)t.Varint(); break;
                            case 35 when w == 0: byteFallback = t.Varint() != 0; break;
                            case 40 when w == 0: unk = (int)t.Varint(); break;
                            case 41 when w == 0: bos = (int)t.Varint(); break;
                            case 42 when w == 0: eos = (int)t.Varint(); break;
                            default: t.Skip(w); break;
                        }
                }
                else if (field == 3 && wire == 2)
                {
                    var n = new ProtoReader(r.Bytes());
                    while (n.Next(out var f, out var w))
                        if (f == 3 && w == 0) addDummyPrefix = n.Varint() != 0;
                        else n.Skip(w);
                }
                else r.Skip(wire);
            }
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or InvalidDataException or DecoderFallbackException or OverflowException)
        {
            throw new CompactException($"{source} is not a readable sentencepiece model ({e.Message}); point to the tokenizer.model / tok*.model file that came with the checkpoint.", e);
        }
        if (pieces.Count == 0)
            throw new CompactException($"{source} holds no sentencepiece pieces; point to the tokenizer.model / tok*.model file that came with the checkpoint.");
        if (modelType != 2)
            throw new CompactException($"{source} is a sentencepiece {(modelType == 1 ? "unigram" : $"type-{modelType}")} model; only BPE models (Llama 2, llama2.c) can be converted to a BPE tokenizer.json.");
        return Validate(new SentencePieceModel(pieces, unk, bos, eos, byteFallback, addDummyPrefix), source);
    }

    /// <summary>
    /// Parses llama2.c's tokenizer export (<c>tok512.bin</c>: int32 max_token_length, then per piece float32 score,
    /// int32 length, UTF-8 bytes). That export wrote "▁" as a space and &lt;s&gt;/&lt;/s&gt; as "\n&lt;s&gt;\n"/"\n&lt;/s&gt;\n";
    /// this undoes both. Types are inferred: id 0 unknown, &lt;s&gt;/&lt;/s&gt; control, &lt;0xNN&gt; byte.
    /// </summary>
    public static SentencePieceModel ReadLlama2cTokenizer(ReadOnlySpan<byte> bytes, string source)
    {
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        var pieces = new List<SentencePieceModel.Piece>();
        var pos = 4;
        if (bytes.Length < 4) throw new CompactException($"{source} is too short to be a llama2.c tokenizer (.bin); re-export it with llama2.c's tokenizer.py.");
        while (pos < bytes.Length)
        {
            if (pos + 8 > bytes.Length) throw Truncated();
            var score = BinaryPrimitives.ReadSingleLittleEndian(bytes[pos..]);
            var len = BinaryPrimitives.ReadInt32LittleEndian(bytes[(pos + 4)..]);
            pos += 8;
            if (len < 0 || pos + len > bytes.Length) throw Truncated();
            string text;
            try { text = strict.GetString(bytes.Slice(pos, len)); }
            catch (DecoderFallbackException e) { throw new CompactException($"{source} has piece {pieces.Count} that is not UTF-8 ({e.Message}); re-export it with llama2.c's tokenizer.py.", e); }
            pos += len;
            var type = SentencePieceType.Normal;
            if (text is "\n<s>\n" or "\n</s>\n") { text = text.Trim('\n'); type = SentencePieceType.Control; }
            else if (pieces.Count == 0 && text == "<unk>") type = SentencePieceType.Unknown;
            else if (DecoderStep.TryParseByte(text, out _)) type = SentencePieceType.Byte;
            else text = text.Replace(' ', '▁');
            pieces.Add(new SentencePieceModel.Piece(text, score, type));
        }
        int Find(string piece) => pieces.FindIndex(p => p.Text == piece && p.Type != SentencePieceType.Normal) is var i and >= 0
            ? i : throw new CompactException($"{source} has no {piece} piece; it is not a llama2.c tokenizer export.");
        return Validate(new SentencePieceModel(pieces, Find("<unk>"), Find("<s>"), Find("</s>"),
            pieces.Any(p => p.Type == SentencePieceType.Byte), AddDummyPrefix: true), source);

        CompactException Truncated() => new($"{source} ends inside piece {pieces.Count}; it is not a complete llama2.c tokenizer (.bin).");
    }

    private static SentencePieceModel Validate(SentencePieceModel m, string source)
    {
        foreach (var (id, what) in new[] { (m.UnkId, "unk_id"), (m.BosId, "bos_id"), (m.EosId, "eos_id") })
            if (id < 0 || id >= m.Pieces.Count)
                throw new CompactException($"{source} sets {what} = {id}, outside its {m.Pieces.Count} pieces; the model file is damaged.");
        if (m.Pieces.Select(p => p.Text).GroupBy(t => t).FirstOrDefault(g => g.Count() > 1) is { } dup)
            throw new CompactException($"{source} lists piece \"{dup.Key}\" twice; the model file is damaged.");
        return m;
    }

    /// <summary>
    /// The tokenizer.json for <paramref name="m"/>, in LlamaConverter's shape. Merges follow transformers'
    /// generate_merges with scores: every split of every piece into two pieces, ordered by the piece's score
    /// (descending), then the left and right lengths (descending), ties kept in (piece id, left id, right id) order.
    /// </summary>
    public static string ToTokenizerJson(SentencePieceModel m)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < m.Pieces.Count; i++) vocab[m.Pieces[i].Text] = i;

        var merges = new List<(string L, string R, float Score, int Order)>();
        foreach (var piece in m.Pieces)
        {
            var runes = piece.Text.EnumerateRunes().Select(r => r.ToString()).ToArray();
            var local = new List<(string L, string R)>();
            for (var k = 1; k < runes.Length; k++)
            {
                string l = string.Concat(runes[..k]), r = string.Concat(runes[k..]);
                if (vocab.ContainsKey(l) && vocab.ContainsKey(r)) local.Add((l, r));
            }
            foreach (var (l, r) in local.OrderBy(x => vocab[x.L]).ThenBy(x => vocab[x.R]))
                merges.Add((l, r, piece.Score, merges.Count));
        }
        static int Len(string s) => s.EnumerateRunes().Count();
        var ordered = merges
            .OrderByDescending(x => x.Score).ThenByDescending(x => Len(x.L)).ThenByDescending(x => Len(x.R)).ThenBy(x => x.Order)
            .ToList();

        var bos = m.Pieces[m.BosId].Text;
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            for (var i = 0; i < m.Pieces.Count; i++)
            {
                var p = m.Pieces[i];
                if (p.Type is not (SentencePieceType.Unknown or SentencePieceType.Control or SentencePieceType.UserDefined)) continue;
                w.WriteStartObject();
                w.WriteNumber("id", i);
                w.WriteString("content", p.Text);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", p.Type != SentencePieceType.UserDefined);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            w.WriteStartObject("normalizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("normalizers");
            if (m.AddDummyPrefix)
            {
                w.WriteStartObject();
                w.WriteString("type", "Prepend");
                w.WriteString("prepend", "▁");
                w.WriteEndObject();
            }
            WriteReplace(w, " ", "▁");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteNull("pre_tokenizer");

            w.WriteStartObject("post_processor");
            w.WriteString("type", "TemplateProcessing");
            w.WriteStartArray("single");
            WriteSpecial(w, bos, 0);
            WriteSequence(w, "A", 0);
            w.WriteEndArray();
            w.WriteStartArray("pair");
            WriteSpecial(w, bos, 0);
            WriteSequence(w, "A", 0);
            WriteSpecial(w, bos, 1);
            WriteSequence(w, "B", 1);
            w.WriteEndArray();
            w.WriteStartObject("special_tokens");
            w.WriteStartObject(bos);
            w.WriteString("id", bos);
            w.WriteStartArray("ids");
            w.WriteNumberValue(m.BosId);
            w.WriteEndArray();
            w.WriteStartArray("tokens");
            w.WriteStringValue(bos);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();

            w.WriteStartObject("decoder");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("decoders");
            WriteReplace(w, "▁", " ");
            w.WriteStartObject();
            w.WriteString("type", "ByteFallback");
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("type", "Fuse");
            w.WriteEndObject();
            if (m.AddDummyPrefix)
            {
                w.WriteStartObject();
                w.WriteString("type", "Strip");
                w.WriteString("content", " ");
                w.WriteNumber("start", 1);
                w.WriteNumber("stop", 0);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();

            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteString("unk_token", m.Pieces[m.UnkId].Text);
            w.WriteNull("continuing_subword_prefix");
            w.WriteNull("end_of_word_suffix");
            w.WriteBoolean("fuse_unk", true);
            w.WriteBoolean("byte_fallback", m.ByteFallback);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            for (var i = 0; i < m.Pieces.Count; i++) w.WriteNumber(m.Pieces[i].Text, i);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var x in ordered)
            {
                w.WriteStartArray();
                w.WriteStringValue(x.L);
                w.WriteStringValue(x.R);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>A tokenizer_config.json to go with <see cref="ToTokenizerJson"/>: bos/eos/unk, add_bos_token true, as LlamaTokenizer saves it.</summary>
    public static string ToTokenizerConfigJson(SentencePieceModel m)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteBoolean("add_bos_token", true);
            w.WriteBoolean("add_eos_token", false);
            w.WriteString("bos_token", m.Pieces[m.BosId].Text);
            w.WriteString("eos_token", m.Pieces[m.EosId].Text);
            w.WriteString("unk_token", m.Pieces[m.UnkId].Text);
            w.WriteNull("pad_token");
            w.WriteBoolean("clean_up_tokenization_spaces", false);
            w.WriteBoolean("legacy", true);
            w.WriteString("tokenizer_class", "LlamaTokenizer");
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void WriteReplace(Utf8JsonWriter w, string pattern, string content)
    {
        w.WriteStartObject();
        w.WriteString("type", "Replace");
        w.WriteStartObject("pattern");
        w.WriteString("String", pattern);
        w.WriteEndObject();
        w.WriteString("content", content);
        w.WriteEndObject();
    }

    /// <summary>One TemplateProcessing piece: {"SpecialToken": {...}} or {"Sequence": {...}}.</summary>
    private static void WritePiece(Utf8JsonWriter w, string kind, string id, int typeId)
    {
        w.WriteStartObject();
        w.WriteStartObject(kind);
        w.WriteString("id", id);
        w.WriteNumber("type_id", typeId);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteSpecial(Utf8JsonWriter w, string id, int typeId) => WritePiece(w, "SpecialToken", id, typeId);

    private static void WriteSequence(Utf8JsonWriter w, string id, int typeId) => WritePiece(w, "Sequence", id, typeId);

    private static SentencePieceModel.Piece ReadPiece(ReadOnlySpan<byte> bytes)
    {
        var r = new ProtoReader(bytes);
        string? text = null;
        float score = 0;
        var type = SentencePieceType.Normal;
        while (r.Next(out var f, out var w))
            switch (f)
            {
                case 1 when w == 2: text = new UTF8Encoding(false, true).GetString(r.Bytes()); break;
                case 2 when w == 5: score = r.Fixed32Float(); break;
                case 3 when w == 0: type = (SentencePieceType)(int)r.Varint(); break;
                default: r.Skip(w); break;
            }
        return new SentencePieceModel.Piece(text ?? throw new InvalidDataException("a piece without text"), score, type);
    }

    /// <summary>The protobuf wire format, just enough for ModelProto.</summary>
    private ref struct ProtoReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (_pos >= _data.Length) return false;
            var key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_pos >= _data.Length) throw new InvalidDataException("a varint runs past the end");
                var b = _data[_pos++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return value;
            }
            throw new InvalidDataException("a varint is longer than 10 bytes");
        }

        public ReadOnlySpan<byte> Bytes()
        {
            var len = checked((int)Varint());
            if (len < 0 || _pos + len > _data.Length) throw new InvalidDataException("a length-delimited field runs past the end");
            var s = _data.Slice(_pos, len);
            _pos += len;
            return s;
        }

        public float Fixed32Float()
        {
            if (_pos + 4 > _data.Length) throw new InvalidDataException("a float runs past the end");
            var v = BinaryPrimitives.ReadSingleLittleEndian(_data[_pos..]);
            _pos += 4;
            return v;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _pos += 8; break;
                case 2: Bytes(); break;
                case 5: _pos += 4; break;
                default: throw new InvalidDataException($"wire type {wire} is not supported");
            }
            if (_pos > _data.Length) throw new InvalidDataException("a field runs past the end");
        }
    }
}
