using Compact.Tokenization;
using Compact.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.IO;

/// <summary>Converts a llama2.c checkpoint (karpathy/llama2.c's `run.c` format) into a Hugging Face Llama model:
/// seven int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size — negative when the classifier is
/// separate —, seq_len), then float32 arrays in order. llama2.c rotates interleaved pairs (2i, 2i+1) of each
/// head; HF rotates halves (i, i+d/2), so each head's rows of wq and wk are reordered [0, 2, 4, …, 1, 3, 5, …].</summary>
public static class Llama2c
{
    public static CausalLM Load(string path)
    {
        using var fs = File.OpenRead(path);
        using var br = new BinaryReader(fs);
        int dim = br.ReadInt32(), hidden = br.ReadInt32(), layers = br.ReadInt32(), heads = br.ReadInt32(), kvHeads = br.ReadInt32(),
            vocabRaw = br.ReadInt32(), seqLen = br.ReadInt32();
        bool shared = vocabRaw > 0;
        int vocab = Math.Abs(vocabRaw);
        int headDim = dim / heads, kvDim = kvHeads * headDim;
        long expected = 28 + 4L * ((long)vocab * dim + layers * (2L * dim + 2L * dim * dim + 2L * kvDim * dim + 3L * hidden * dim)
            + dim + (long)seqLen * headDim + (shared ? 0 : (long)vocab * dim));
        if (fs.Length != expected)
            throw new CompactException($"{path}: {fs.Length} bytes, but a llama2.c checkpoint with this header needs {expected}.");
        var cfg = new ModelConfig
        {
            Architecture = "LlamaForCausalLM", Family = ModelFamily.Llama, VocabSize = vocab, HiddenSize = dim, IntermediateSize = hidden,
            NumLayers = layers, NumHeads = heads, NumKvHeads = kvHeads, HeadDim = headDim, MaxPositionEmbeddings = seqLen,
            RmsNormEps = 1e-5, RopeTheta = 10000, TieWordEmbeddings = shared, BosTokenId = 1, EosTokenIds = [2],
        };
        var m = new CausalLM(cfg, ScalarType.Float32, torch.CPU);
        Tensor Read(params long[] shape)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var buf = br.ReadBytes(checked((int)(n * 4)));
            var t = torch.empty(shape, dtype: ScalarType.Float32);
            buf.CopyTo(t.bytes);
            return t;
        }
        // Row order within each head: even rows first, then odd rows.
        var perm = torch.tensor(Enumerable.Range(0, heads).SelectMany(h => Enumerable.Range(0, headDim / 2).Select(i => (long)(h * headDim + 2 * i))
            .Concat(Enumerable.Range(0, headDim / 2).Select(i => (long)(h * headDim + 2 * i + 1)))).ToArray());
        using var permKv = perm.narrow(0, 0, kvDim).clone();
        using var _ = torch.no_grad();
        var L = m.model.layers;
        void Fill(Func<int, Tensor> target, Tensor all, Tensor? rowPerm = null)
        {
            for (int i = 0; i < layers; i++)
            {
                using var part = all[i];
                using var src = rowPerm is null ? part.alias() : part.index_select(0, rowPerm);
                target(i).copy_(src);
            }
            all.Dispose();
        }
        using (var emb = Read(vocab, dim)) m.model.embed_tokens.weight.copy_(emb);
        Fill(i => L[i].input_layernorm.weight, Read(layers, dim));
        Fill(i => L[i].self_attn.q_proj.weight, Read(layers, dim, dim), perm);
        Fill(i => L[i].self_attn.k_proj.weight, Read(layers, kvDim, dim), permKv);
        Fill(i => L[i].self_attn.v_proj.weight, Read(layers, kvDim, dim));
        Fill(i => L[i].self_attn.o_proj.weight, Read(layers, dim, dim));
        Fill(i => L[i].post_attention_layernorm.weight, Read(layers, dim));
        Fill(i => L[i].mlp.gate_proj.weight, Read(layers, hidden, dim));
        Fill(i => L[i].mlp.down_proj.weight, Read(layers, dim, hidden));
        Fill(i => L[i].mlp.up_proj.weight, Read(layers, hidden, dim));
        using (var norm = Read(dim)) m.model.norm.weight.copy_(norm);
        br.ReadBytes(seqLen * headDim / 2 * 4 * 2);                       // legacy RoPE tables, unused
        if (!shared) using (var cls = Read(vocab, dim)) m.lm_head!.weight.copy_(cls);
        perm.Dispose();
        m.eval();
        return m;
    }

    /// <summary>llama2.c's tokenizer file (tok512.bin, tokenizer.bin): int32 max token length, then per token a
    /// float32 score, an int32 byte length and the bytes. Returns each token's bytes.</summary>
    public static IReadOnlyList<byte[]> ReadVocab(string path)
    {
        if (!File.Exists(path)) throw new CompactException($"{path}: llama2.c tokenizer file not found.");
        using var br = new BinaryReader(File.OpenRead(path));
        long len = br.BaseStream.Length;
        br.ReadInt32();
        var pieces = new List<byte[]>();
        while (br.BaseStream.Position < len)
        {
            if (len - br.BaseStream.Position < 8) throw new CompactException($"{path}: truncated llama2.c tokenizer (token {pieces.Count}).");
            br.ReadSingle();
            int n = br.ReadInt32();
            if (n < 0 || n > len - br.BaseStream.Position) throw new CompactException($"{path}: token {pieces.Count} has an invalid length {n}.");
            pieces.Add(br.ReadBytes(n));
        }
        return pieces;
    }

    /// <summary>Text of generated ids as llama2.c's run.c prints it: the piece after BOS (id 1) loses its leading
    /// space, and "&lt;0xNN&gt;" pieces are raw bytes.</summary>
    public static string Decode(IReadOnlyList<byte[]> vocab, IEnumerable<int> ids, int previous = 1)
    {
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if (id < 0 || id >= vocab.Count) throw new CompactException($"token id {id} is outside the llama2.c vocabulary ({vocab.Count}).");
            var p = vocab[id].AsEnumerable();
            var piece = vocab[id];
            if (previous == 1 && piece.Length > 0 && piece[0] == (byte)' ') p = p.Skip(1);
            if (piece.Length == 6 && piece[0] == '<' && piece[1] == '0' && piece[2] == 'x' && piece[5] == '>'
                && byte.TryParse(System.Text.Encoding.ASCII.GetString(piece, 3, 2), System.Globalization.NumberStyles.HexNumber, null, out var b))
                p = [b];
            bytes.AddRange(p);
            previous = id;
        }
        return System.Text.Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>Converts a llama2.c checkpoint into a Hugging Face Llama folder: config.json (float32),
    /// model.safetensors (tied embeddings stored once, as model.embed_tokens.weight), generation_config.json, and,
    /// when a sentencepiece model is given (tok512.model), that file as tokenizer.model with a LlamaTokenizer
    /// tokenizer_config.json (BOS &lt;s&gt; = 1 added, EOS &lt;/s&gt; = 2). Refuses a folder that already holds a model.</summary>
    public static ModelConfig Convert(string checkpoint, string outDir, string? sentencePieceModel)
    {
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(f => Path.GetFileName(f) is "config.json" or "model.safetensors"))
            throw new CompactException($"{outDir} already holds a model; choose an empty --out folder.");
        if (sentencePieceModel is not null && !File.Exists(sentencePieceModel))
            throw new CompactException($"--tokenizer-model {sentencePieceModel}: file not found (llama2.c ships it as tok512.model or tokenizer.model).");
        using var m = Load(checkpoint);
        Directory.CreateDirectory(outDir);
        m.Save(outDir);
        var gen = new System.Text.Json.Nodes.JsonObject { ["bos_token_id"] = 1, ["eos_token_id"] = 2 };
        AtomicFile.WriteAllText(Path.Combine(outDir, "generation_config.json"), gen.ToJsonString(Compact.Util.Jsonl.Indented));
        if (sentencePieceModel is not null)
        {
            // The sentencepiece model is kept as tokenizer.model and converted to the tokenizer.json that Hugging Face's
            // LlamaTokenizerFast conversion would write (BPE with byte_fallback, merges from the piece scores).
            var sp = SentencePieceImport.ReadModelProto(File.ReadAllBytes(sentencePieceModel), sentencePieceModel);
            File.Copy(sentencePieceModel, Path.Combine(outDir, "tokenizer.model"), overwrite: false);
            AtomicFile.WriteAllText(Path.Combine(outDir, "tokenizer.json"), SentencePieceImport.ToTokenizerJson(sp));
            AtomicFile.WriteAllText(Path.Combine(outDir, "tokenizer_config.json"), SentencePieceImport.ToTokenizerConfigJson(sp));
        }
        return m.Config;
    }
}
