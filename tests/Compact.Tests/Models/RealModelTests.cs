using System.Globalization;
using System.Text.Json.Nodes;
using Compact.IO;
using Compact.Models;
using TorchSharp;
using static TorchSharp.torch;
using static Compact.Tests.Models.ReferenceParityTests;

namespace Compact.Tests.Models;

/// <summary>Real pretrained checkpoints nobody here wrote, loaded from their own files: TinyStories-656K (HF
/// LlamaForCausalLM, tied weights stored once as lm_head.weight with a safetensors metadata alias) and stories260K
/// (llama2.c). References: scripts/reference_decoder.py (Fixtures/reference/*/reference.json) and, for stories260K,
/// the expected text of karpathy/llama2.c's test_all.py.</summary>
public class RealModelTests
{
    /// <summary>../shared/models/{name} beside the repository, else the copy committed with the tests.</summary>
    public static string SharedModel(string name)
    {
        var beside = Path.Combine(Path.GetDirectoryName(TestUtil.RepoRoot())!, "shared", "models", name);
        return Path.Exists(beside) ? beside : Path.Combine(TestUtil.RepoRoot(), "data", "models", name);
    }

    static void AssertLogits(CausalLM m, IReadOnlyList<int> sequence, JsonNode byPosition, float tol, string what)
    {
        using var _ = torch.no_grad();
        using var o = m.Forward(torch.tensor(sequence.Select(x => (long)x).ToArray(), [1, sequence.Count]));
        using var logits = m.Logits(o.Hidden);
        foreach (var (pos, values) in byPosition.AsObject())
        {
            using var expected = Floats(values!);
            using var actual = logits[0, int.Parse(pos, CultureInfo.InvariantCulture)];
            float d = TestUtil.MaxAbsDiff(actual, expected);
            Assert.True(d < tol, $"{what} position {pos}: max |Δlogit| = {d}");
        }
    }

    [Theory]
    [InlineData("f32")]
    [InlineData("bf16")]
    public void TinyStories_656K_loads_as_it_is_and_matches_the_reference(string dtype)
    {
        var r = Reference("tinystories656k");
        var want = r[dtype]!;
        bool bf16 = dtype == "bf16";
        using var m = CausalLM.Load(SharedModel("TinyStories-656K"), dtype: bf16 ? ScalarType.BFloat16 : ScalarType.Float32);
        Assert.True(m.Config.TieWordEmbeddings);
        Assert.Null(m.lm_head);
        Assert.Equal(1, m.Config.BosTokenId);
        var prompt = IntList(r["prompt"]!);
        Assert.Equal([m.Config.BosTokenId!.Value], prompt);          // generation starts from BOS, as the tokenizer adds it
        var greedy = IntList(want["greedy_ids"]!);
        Assert.Equal(greedy, Cached(m, prompt, greedy.Count));
        AssertLogits(m, prompt.Concat(greedy).ToList(), want["logits"]!, bf16 ? Bf16Tol : F32Tol, $"TinyStories-656K {dtype}");
    }

    [Fact]
    public void Tied_weights_load_whichever_way_they_are_stored()
    {
        using var tmp = new TestUtil.TempDir();
        var src = SharedModel("TinyStories-656K");
        using var reference = CausalLM.Load(src);
        using var f = SafeTensorsFile.Open(Path.Combine(src, "model.safetensors"));
        Assert.Equal(CausalLM.HeadKey, f.Metadata[CausalLM.EmbedKey]);    // the alias this test is about
        var tensors = f.Entries.Select(e => TensorSource.Of(e.Name, f.ReadTensor(e))).ToList();
        string cfg = File.ReadAllText(Path.Combine(src, "config.json"));
        void Write(string dir, IEnumerable<TensorSource> ts, IReadOnlyDictionary<string, string>? meta, string config)
        {
            Directory.CreateDirectory(dir);
            SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), ts.ToList(), meta);
            File.WriteAllText(Path.Combine(dir, "config.json"), config);
        }
        var head = tensors.Single(t => t.Name == CausalLM.HeadKey);
        var others = tensors.Where(t => t.Name != CausalLM.HeadKey).ToList();
        // lm_head.weight only, no alias; model.embed_tokens.weight only; both stored; untied config with the alias.
        Write(tmp["head-only"], tensors, null, cfg);
        Write(tmp["embed-only"], others.Append(head with { Name = CausalLM.EmbedKey }), null, cfg);
        Write(tmp["both"], others.Append(head).Append(head with { Name = CausalLM.EmbedKey }), null, cfg);
        Write(tmp["untied-alias"], tensors, f.Metadata, cfg.Replace("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"));
        using var ids = torch.tensor(new long[] { 1, 296, 85, 10 }, [1, 4]);
        using var _ = torch.no_grad();
        using var want = reference.Logits(reference.Forward(ids).Hidden);
        foreach (var variant in new[] { "head-only", "embed-only", "both", "untied-alias" })
        {
            using var m = CausalLM.Load(tmp[variant]);
            Assert.Equal(variant == "untied-alias", m.lm_head is not null);
            using var got = m.Logits(m.Forward(ids).Hidden);
            Assert.Equal(0f, TestUtil.MaxAbsDiff(got, want));
        }
        // Untied and nothing stored for lm_head: strict loading names the missing tensor.
        Write(tmp["untied-missing"], others.Append(head with { Name = CausalLM.EmbedKey }), null,
            cfg.Replace("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"));
        var ex = Assert.Throws<CompactException>(() => CausalLM.Load(tmp["untied-missing"]));
        Assert.Contains("Missing (1): lm_head.weight", ex.Message);
    }

    [Fact]
    public void Stories260K_writes_llama2c_test_all_expected_text_greedily_from_BOS()
    {
        var r = Reference("stories260k");
        var dir = SharedModel("stories260K");
        using var m = Llama2c.Load(Path.Combine(dir, "stories260K.bin"));
        Assert.Equal(5, m.Config.NumLayers);
        Assert.Equal(2, m.Config.KvGroups);
        Assert.True(m.Config.TieWordEmbeddings);
        var greedy = IntList(r["f32"]!["greedy_ids"]!);
        Assert.Equal(200, greedy.Count);
        var ids = Cached(m, [1], 200);
        Assert.Equal(greedy, ids);
        // The text as llama2.c's run.c prints it, from its own tokenizer file: test_all.py's expected_stdout.
        var text = Llama2c.Decode(Llama2c.ReadVocab(Path.Combine(dir, "tok512.bin")), ids);
        Assert.Equal(r["expected_text"]!.GetValue<string>(), text);
        Assert.StartsWith("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", text);
        AssertLogits(m, new[] { 1 }.Concat(greedy).ToList(), r["f32"]!["logits"]!, F32Tol, "stories260K f32");
    }

    [Fact]
    public void Stories260K_converted_to_a_Hugging_Face_folder_generates_the_same_in_f32_and_bf16()
    {
        using var tmp = new TestUtil.TempDir();
        var dir = SharedModel("stories260K");
        var outDir = tmp["hf"];
        var sw = new StringWriter();
        Assert.Equal(0, Compact.Cli.Commands.ImportCommand.Run(Path.Combine(dir, "stories260K.bin"), Path.Combine(dir, "tok512.model"), outDir, sw));
        Assert.True(File.Exists(Path.Combine(outDir, "tokenizer.model")));
        var r = Reference("stories260k");
        // The converted tokenizer.json turns the reference's greedy ids into llama2.c's expected text (test_all.py),
        // and encodes that text's first sentence back to the same ids after BOS.
        var tok = Compact.Tokenization.HfTokenizer.Load(outDir);
        var f32Greedy = IntList(r["f32"]!["greedy_ids"]!);
        Assert.Equal(r["expected_text"]!.GetValue<string>(), tok.Decode(f32Greedy, skipSpecialTokens: true));
        Assert.Equal(new[] { 1 }.Concat(f32Greedy.Take(15)), tok.Encode("Once upon a time, there was a little girl named Lily.", addSpecialTokens: true));
        using (var m = CausalLM.Load(outDir))
        {
            var greedy = IntList(r["f32"]!["greedy_ids"]!);
            Assert.Equal(greedy.Take(60), Cached(m, [1], 60));
        }
        using (var m = CausalLM.Load(outDir, dtype: ScalarType.BFloat16))
        {
            var greedy = IntList(r["bf16"]!["greedy_ids"]!);
            Assert.Equal(greedy, Cached(m, [1], greedy.Count));
            AssertLogits(m, new[] { 1 }.Concat(greedy).ToList(), r["bf16"]!["logits"]!, Bf16Tol, "stories260K bf16");
        }
        // A second import into the same folder refuses instead of replacing the model.
        var ex = Assert.Throws<CompactException>(() => Compact.Cli.Commands.ImportCommand.Run(Path.Combine(dir, "stories260K.bin"), null, outDir, sw));
        Assert.Contains("already holds a model", ex.Message);
    }
}
