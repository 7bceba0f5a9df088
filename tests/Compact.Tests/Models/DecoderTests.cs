using Compact.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Tests.Models;

public class DecoderTests
{
    static Tensor Ids(params long[][] rows) => torch.tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);

    [Theory]
    [InlineData("qwen2-tiny")]
    [InlineData("llama-tiny")]
    [InlineData("qwen3-tiny")]
    [InlineData("mistral-tiny")]
    public void Cached_decoding_equals_uncached_decoding(string preset)
    {
        using var m = TestUtil.TinyModel(preset);
        using var _ = torch.no_grad();
        var ids = Ids([5, 17, 3, 42, 8, 9, 60, 2]);
        using var full = m.Forward(ids);
        using var logitsFull = m.Logits(full.Hidden);                            // (1, 8, V)
        using var cache = new KvCache(m.Config.NumLayers, 4);                     // small capacity: forces growth
        using var prefix = m.Forward(ids.narrow(1, 0, 5), cache: cache);
        using var lp = m.Logits(prefix.Hidden);
        Assert.True(TestUtil.MaxAbsDiff(lp, logitsFull.narrow(1, 0, 5)) < 1e-5f);
        for (int t = 5; t < 8; t++)
        {
            using var step = m.Forward(ids.narrow(1, t, 1), cache: cache);
            using var ls = m.Logits(step.Hidden);
            Assert.True(TestUtil.MaxAbsDiff(ls, logitsFull.narrow(1, t, 1)) < 1e-5f, $"position {t}");
        }
        Assert.Equal(8, cache.Length);
    }

    [Fact]
    public void Left_padded_batch_equals_unpadded_single_runs()
    {
        using var m = TestUtil.TinyModel("llama-tiny");
        using var _ = torch.no_grad();
        long[] a = [4, 8, 15, 16, 23, 42], b = [7, 11, 13];
        using var batch = Ids([a, [0, 0, 0, .. b]]);
        using var mask = torch.tensor(new long[] { 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1 }, [2, 6]);
        using var outB = m.Forward(batch, mask);
        using var lb = m.Logits(outB.Hidden);
        using var outA1 = m.Forward(Ids(a));
        using var la = m.Logits(outA1.Hidden);
        using var outB1 = m.Forward(Ids(b));
        using var lbb = m.Logits(outB1.Hidden);
        Assert.True(TestUtil.MaxAbsDiff(lb[0].unsqueeze(0), la) < 1e-5f);
        Assert.True(TestUtil.MaxAbsDiff(lb[1].narrow(0, 3, 3).unsqueeze(0), lbb) < 1e-5f);
        Assert.False(lb.isnan().any().item<bool>());
    }

    [Fact]
    public void Right_padded_batch_matches_single_runs_on_real_tokens()
    {
        using var m = TestUtil.TinyModel("qwen2-tiny");
        using var _ = torch.no_grad();
        long[] a = [4, 8, 15, 16], b = [7, 11];
        using var batch = Ids([a, [.. b, 0, 0]]);
        using var mask = torch.tensor(new long[] { 1, 1, 1, 1, 1, 1, 0, 0 }, [2, 4]);
        using var o = m.Forward(batch, mask);
        using var single = m.Forward(Ids(b));
        Assert.True(TestUtil.MaxAbsDiff(o.Hidden[1].narrow(0, 0, 2).unsqueeze(0), single.Hidden) < 1e-5f);
    }

    [Theory]
    [InlineData("qwen2-tiny")]
    [InlineData("gemma3-tiny")]   // 20 tokens > its window of 16: the sliding layers' context survives recomputation
    public void Gradient_checkpointing_gives_the_same_gradients(string preset)
    {
        using var m = TestUtil.TinyModel(preset);
        m.train();
        var ids = Ids([5, 17, 3, 42, 8, 9, 60, 2, 11, 23, 35, 47, 59, 71, 83, 95, 7, 19, 31, 43]);
        Tensor Grad(bool ckpt)
        {
            m.GradientCheckpointing = ckpt;
            m.zero_grad();
            using var o = m.Forward(ids);
            using var loss = m.Logits(o.Hidden).pow(2).mean();
            loss.backward();
            return m.model.layers[0].self_attn.q_proj.weight.grad!.clone();
        }
        using var g1 = Grad(false);
        using var g2 = Grad(true);
        Assert.True(g1.abs().sum().item<float>() > 0);
        Assert.True(TestUtil.MaxAbsDiff(g1, g2) < 1e-6f);
    }

    [Fact]
    public void Tied_embeddings_share_one_matrix_and_untied_have_lm_head()
    {
        using var tied = TestUtil.TinyModel("qwen2-tiny");
        Assert.Null(tied.lm_head);
        Assert.Same(tied.model.embed_tokens.weight, tied.OutputWeight);
        Assert.DoesNotContain(tied.named_parameters(), p => p.name == "lm_head.weight");
        using var untied = TestUtil.TinyModel("llama-small");
        Assert.NotNull(untied.lm_head);
        Assert.Contains(untied.named_parameters(), p => p.name == "lm_head.weight");
    }
}
