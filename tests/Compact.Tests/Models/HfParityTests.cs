using System.Text.Json.Nodes;
using Compact.Generation;
using Compact.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Tests.Models;

/// <summary>Logits parity with Hugging Face transformers on tiny random Qwen2 / Llama 3 / Qwen3 / Gemma 3 /
/// sentencepiece-Llama checkpoints made by scripts/make_hf_fixtures.py (run where torch and transformers are installed,
/// e.g. the GPU machine: `python3 scripts/make_hf_fixtures.py tests/Compact.Tests/Fixtures/hf`).</summary>
public class HfParityTests
{
    static string FixtureDir(string name) => Path.Combine(TestUtil.RepoRoot(), "tests", "Compact.Tests", "Fixtures", "hf", name);

    static Tensor Tensor3(JsonNode n)
    {
        var a = n.AsArray();
        int b = a.Count, t = a[0]!.AsArray().Count, v = a[0]![0]!.AsArray().Count;
        var flat = a.SelectMany(r => r!.AsArray().SelectMany(c => c!.AsArray().Select(x => x!.GetValue<float>()))).ToArray();
        return torch.tensor(flat, [b, t, v]);
    }

    static Tensor Ids(JsonNode n)
    {
        var a = n.AsArray();
        return torch.tensor(a.SelectMany(r => r!.AsArray().Select(x => x!.GetValue<long>())).ToArray(), [a.Count, a[0]!.AsArray().Count]);
    }

    /// <summary>Runs against the transformers fixtures when a GPU session has committed them (Fixtures/hf/NAME),
    /// else against the independent reference fixtures of the same family (ReferenceParityTests), so that this
    /// test is never skipped.</summary>
    [Theory]
    [InlineData("qwen2", "qwen2")]
    [InlineData("llama", "llama3")]
    [InlineData("qwen3", "qwen3")]
    [InlineData("gemma3", "gemma3")]
    [InlineData("spllama", null)]
    public void Logits_match_transformers(string name, string? referenceCase)
    {
        var dir = FixtureDir(name);
        if (!File.Exists(Path.Combine(dir, "reference.json")))
        {
            if (referenceCase is null)
                new RealModelTests().TinyStories_656K_loads_as_it_is_and_matches_the_reference("f32");   // the sentencepiece Llama
            else
                new ReferenceParityTests().Tiny_checkpoints_match_the_reference(referenceCase, "f32");
            return;
        }
        var r = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "reference.json")))!;
        using var m = CausalLM.Load(dir);
        m.eval();
        using var _ = torch.no_grad();
        using var ids = Ids(r["input_ids"]!);
        using var o = m.Forward(ids);
        using var logits = m.Logits(o.Hidden);
        using var expected = Tensor3(r["logits"]!);
        Assert.True(TestUtil.MaxAbsDiff(logits, expected) < 1e-4f, $"max |Δ| = {TestUtil.MaxAbsDiff(logits, expected)}");

        using var pids = Ids(r["padded_input_ids"]!);
        using var mask = Ids(r["attention_mask"]!);
        using var po = m.Forward(pids, mask);
        using var plogits = m.Logits(po.Hidden);
        using var pexp = Tensor3(r["padded_logits"]!);
        // Padding positions are garbage in both implementations: compare real tokens only.
        Assert.True(TestUtil.MaxAbsDiff(plogits[0], pexp[0]) < 1e-4f);
        Assert.True(TestUtil.MaxAbsDiff(plogits[1].narrow(0, 4, 8), pexp[1].narrow(0, 4, 8)) < 1e-4f);

        var prompt = r["greedy_prompt"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
        var want = r["greedy_ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToList();
        var got = TextGenerator.Generate(m, [prompt], new GenerationOptions { MaxNewTokens = want.Count }, x => "", 0)[0].NewIds;
        Assert.Equal(want, got);
    }
}
