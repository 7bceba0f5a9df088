using Compact.Generation;
using Compact.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Tests.Models;

public class GenerationTests
{
    static string Decode(IReadOnlyList<int> ids) => string.Join(" ", ids);

    static List<int> NaiveGreedy(CausalLM m, IReadOnlyList<int> prompt, int n)
    {
        var seq = prompt.ToList();
        using var _ = torch.no_grad();
        for (int i = 0; i < n; i++)
        {
            using var ids = torch.tensor(seq.Select(x => (long)x).ToArray(), [1, seq.Count]);
            using var o = m.Forward(ids);
            using var logits = m.Logits(o.Hidden);
            seq.Add((int)logits[0, -1].argmax().item<long>());
        }
        return seq.Skip(prompt.Count).ToList();
    }

    [Theory]
    [InlineData("qwen2-tiny")]
    [InlineData("llama-tiny")]
    public void Cached_greedy_generation_equals_recomputing_every_step(string preset)
    {
        using var m = TestUtil.TinyModel(preset, seed: 7);
        int[] prompt = [1, 5, 9, 33, 2];
        var r = TextGenerator.Generate(m, [prompt], new GenerationOptions { MaxNewTokens = 12 }, Decode, 0)[0];
        Assert.Equal(NaiveGreedy(m, prompt, 12), r.NewIds);
        Assert.Equal("length", r.FinishReason);
    }

    [Fact]
    public void Left_padded_batch_generates_what_each_prompt_generates_alone()
    {
        using var m = TestUtil.TinyModel("qwen3-tiny", seed: 11);
        // Prompts are prefilled by length ([7, 11] and [9, 2] together, the others alone), then decoded as one batch.
        int[][] prompts = [[4, 8, 15, 16, 23, 42], [7, 11], [3, 3, 3], [9, 2]];
        var batch = TextGenerator.Generate(m, prompts, new GenerationOptions { MaxNewTokens = 8 }, Decode, 0);
        for (int i = 0; i < prompts.Length; i++)
        {
            var single = TextGenerator.Generate(m, [prompts[i]], new GenerationOptions { MaxNewTokens = 8 }, Decode, 0)[0];
            Assert.Equal(single.NewIds, batch[i].NewIds);
        }
    }

    [Fact]
    public void Eos_and_stop_strings_end_a_row()
    {
        using var m = TestUtil.TinyModel("qwen2-tiny", seed: 7);
        int[] prompt = [1, 5, 9, 33, 2];
        var free = NaiveGreedy(m, prompt, 6);
        var r = TextGenerator.Generate(m, [prompt], new GenerationOptions { MaxNewTokens = 20, EosIds = [free[3]] }, Decode, 0)[0];
        Assert.Equal("stop", r.FinishReason);
        Assert.Equal(free.Take(free.IndexOf(free[3])), r.NewIds);
        // The stop string " t" (t = third token) first appears once a later token t follows another token.
        string stopString = " " + free[2];
        int k = Enumerable.Range(1, free.Count).First(n => Decode(free.Take(n).ToList()).Contains(stopString));
        var text = Decode(free.Take(k).ToList());
        var s = TextGenerator.Generate(m, [prompt], new GenerationOptions { MaxNewTokens = 20, StopStrings = [stopString] }, Decode, 0)[0];
        Assert.Equal("stop", s.FinishReason);
        Assert.Equal(text[..text.IndexOf(stopString, StringComparison.Ordinal)], s.Text);
    }

    [Fact]
    public void Sampling_is_reproducible_with_a_seed_and_tiny_top_p_is_greedy()
    {
        using var m = TestUtil.TinyModel("llama-tiny", seed: 5);
        int[] prompt = [2, 4, 6];
        var o = new GenerationOptions { MaxNewTokens = 10, Temperature = 1.5, Seed = 42 };
        var a = TextGenerator.Generate(m, [prompt], o, Decode, 0)[0];
        var b = TextGenerator.Generate(m, [prompt], o, Decode, 0)[0];
        Assert.Equal(a.NewIds, b.NewIds);
        var greedy = TextGenerator.Generate(m, [prompt], new GenerationOptions { MaxNewTokens = 10 }, Decode, 0)[0];
        var nucleus = TextGenerator.Generate(m, [prompt], o with { TopP = 1e-6 }, Decode, 0)[0];
        Assert.Equal(greedy.NewIds, nucleus.NewIds);
    }
}
