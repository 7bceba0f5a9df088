using System.Text.Json.Nodes;
using Compact.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Tests.Models;

/// <summary>Logits parity with Hugging Face transformers on tiny random Qwen2 / Llama 3 / Qwen3 / Gemma 3 / Mistral /
/// sentencepiece-Llama checkpoints made by scripts/make_hf_fixtures.py (run where torch and transformers are installed,
/// e.g. the GPU machine: `python3 scripts/make_hf_fixtures.py tests/Compact.Tests/Fixtures/hf`).</summary>
public class HfParityTests
{
    static string FixtureDir(string name) => Path.Combine(TestUtil.RepoRoot(), "tests", "Compact.Tests", "Fixtures", "hf", name);

    // The reference fixtures' JSON readers serve these fixtures too.
    static Tensor Tensor3(JsonNode n) => ReferenceParityTests.Floats(n);

    static Tensor Ids(JsonNode n) => ReferenceParityTests.Ids(n);

    /// <summary>The model's logits on r["input_ids"] equal r["logits"] within 1e-4.</summary>
    static void LogitsMatch(CausalLM m, JsonNode r)
    {
        using var ids = Ids(r["input_ids"]!);
        using var o = m.Forward(ids);
        using var logits = m.Logits(o.Hidden);
        using var expected = Tensor3(r["logits"]!);
        Assert.True(TestUtil.MaxAbsDiff(logits, expected) < 1e-4f, $"max |Δ| = {TestUtil.MaxAbsDiff(logits, expected)}");
    }

    static JsonNode Reference(string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "reference.json")))!;

    /// <summary>Fixtures made by transformers 5.17 (torch 2.11) on the GPU machine: their config.json files use
    /// transformers 5's rope_parameters, so this also checks that such configs load with the right RoPE.</summary>
    [Theory]
    [InlineData("qwen2")]
    [InlineData("llama")]
    [InlineData("qwen3")]
    [InlineData("gemma3")]
    [InlineData("mistral")]
    [InlineData("spllama")]
    public void Logits_match_transformers(string name)
    {
        var dir = FixtureDir(name);
        var r = Reference(dir);
        using var m = CausalLM.Load(dir);
        m.eval();
        using var _ = torch.no_grad();
        LogitsMatch(m, r);

        using var pids = Ids(r["padded_input_ids"]!);
        using var mask = Ids(r["attention_mask"]!);
        using var po = m.Forward(pids, mask);
        using var plogits = m.Logits(po.Hidden);
        using var pexp = Tensor3(r["padded_logits"]!);
        // Padding positions are garbage in both implementations: compare real tokens only.
        Assert.True(TestUtil.MaxAbsDiff(plogits[0], pexp[0]) < 1e-4f);
        Assert.True(TestUtil.MaxAbsDiff(plogits[1].narrow(0, 4, 8), pexp[1].narrow(0, 4, 8)) < 1e-4f);

        var prompt = r["greedy_prompt"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
        var want = ReferenceParityTests.IntList(r["greedy_ids"]!);
        var got = ReferenceParityTests.Cached(m, prompt, want.Count);
        Assert.Equal(want, got);
    }

    /// <summary>A LoRA adapter written by PEFT 0.21 (r 4, alpha 8, every linear layer, random non-zero B) loads onto
    /// the base model and gives the logits PEFT computed with it.</summary>
    [Theory]
    [InlineData("qwen2")]
    [InlineData("llama")]
    public void Peft_adapter_logits_match(string name)
    {
        var dir = FixtureDir(name);
        var r = Reference(dir)["adapter"]!;
        using var m = CausalLM.Load(dir);
        m.eval();
        using var adapters = Compact.Training.LoraAdapters.Load(m, Path.Combine(dir, "adapter"));
        using var _ = torch.no_grad();
        LogitsMatch(m, r);
        using var plain = CausalLM.Load(dir);
        using var ids = Ids(r["input_ids"]!);
        using var expected = Tensor3(r["logits"]!);
        using var po = plain.Forward(ids);
        using var baseLogits = plain.Logits(po.Hidden);
        Assert.True(TestUtil.MaxAbsDiff(baseLogits, expected) > 1e-2f, "the adapter must change the logits for this check to mean anything");
    }

    /// <summary>The real TinyStories-656K (sentencepiece-BPE Llama, ../shared/models): transformers' tokenizer ids for
    /// three texts, its logits on the first and its greedy continuation.</summary>
    [Fact]
    public void TinyStories_matches_transformers()
    {
        var r = Reference(FixtureDir("tinystories656k"));
        var src = RealModelTests.SharedModel("TinyStories-656K");
        var tok = Compact.Tokenization.HfTokenizer.Load(src);
        var texts = r["texts"]!.AsArray().Select(x => x!.GetValue<string>()).ToList();
        var ids = r["ids"]!.AsArray().Select(a => a!.AsArray().Select(x => x!.GetValue<int>()).ToList()).ToList();
        for (int i = 0; i < texts.Count; i++)
            Assert.Equal(ids[i], tok.Encode(texts[i], addSpecialTokens: true));

        using var m = CausalLM.Load(src);
        m.eval();
        using var _ = torch.no_grad();
        using var input = torch.tensor(ids[0].Select(x => (long)x).ToArray(), [1, ids[0].Count]);
        using var o = m.Forward(input);
        using var logits = m.Logits(o.Hidden);
        using var expected = ReferenceParityTests.Floats(r["logits"]!).unsqueeze(0);
        Assert.True(TestUtil.MaxAbsDiff(logits, expected) < 1e-4f, $"max |Δ| = {TestUtil.MaxAbsDiff(logits, expected)}");

        var greedy = ReferenceParityTests.IntList(r["greedy_ids"]!);
        var got = ReferenceParityTests.Cached(m, ids[0], greedy.Count);
        Assert.Equal(greedy, got);
    }
}
