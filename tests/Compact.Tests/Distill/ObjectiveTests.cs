using Compact.Distill;
using Compact.Models;
using Compact.Tokenization;
using Compact.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Tests.Distill;

public class ObjectiveTests
{
    [Theory]
    // P = [.5, .5], Q = [.9, .1]: KL(P‖Q) = .5 ln(.5/.9) + .5 ln(.5/.1) = 0.510826; KL(Q‖P) = .9 ln 1.8 + .1 ln .2 = 0.368064.
    [InlineData(new[] { 0.5, 0.5 }, new[] { 0.9, 0.1 }, 0.878890)]
    [InlineData(new[] { 0.9, 0.1 }, new[] { 0.5, 0.5 }, 0.878890)]
    [InlineData(new[] { 0.3, 0.7 }, new[] { 0.3, 0.7 }, 0.0)]
    public void Symmetric_kl(double[] p, double[] q, double expected)
    {
        using var lp = torch.tensor(p).log().unsqueeze(0);
        using var lq = torch.tensor(q).log().unsqueeze(0);
        Assert.Equal(expected, Losses.SymmetricKl(lp, lq).item<double>(), 5);
    }

    [Fact]
    public void Symmetric_kl_is_averaged_over_positions()
    {
        // Positions (P,Q) and (P,P): (0.878890 + 0) / 2.
        using var lp = torch.tensor(new[] { 0.5, 0.5, 0.5, 0.5 }, [2, 2]).log();
        using var lq = torch.tensor(new[] { 0.9, 0.1, 0.5, 0.5 }, [2, 2]).log();
        Assert.Equal(0.439445, Losses.SymmetricKl(lp, lq).item<double>(), 5);
    }

    internal static (CausalLM Model, HfTokenizer Tok, ChatFormat Chat) TinyStudent(string preset = "llama-tiny", long seed = 2)
    {
        var tok = ByteLevelBpeTrainer.BytesOnly().ToTokenizer();
        var m = TestUtil.TinyModel(preset, tok.VocabSize, seed);
        return (m, tok, ChatFormat.For(tok));
    }

    static MtQuestion Question() => new("q1", "Philip has 290 bananas in 2 groups. How big is each group?", "145",
    [
        new("a", "Divide 290 by 2. So each group has 145."),
        new("b", "290 / 2 = 145 bananas per group. Therefore 145."),
        new("c", "Hmm, the groups are equal. 290 split in two gives 145. Wait, check: 145 + 145 = 290."),
    ]);

    [Fact]
    public void Weighted_objective_gradient_equals_the_weighted_sum_of_branch_gradients()
    {
        var (m, tok, chat) = TinyStudent();
        using var _m = m;
        using var lora = LoraAdapters.Attach(m, new LoraConfig { Rank = 4, Dropout = 0 }, seed: 5);
        // Non-zero B so gradients reach A too; a local generator, not the global one that tests running in parallel share.
        using var gen = new torch.Generator(7);
        using (torch.no_grad()) foreach (var p in lora.Parameters()) p.normal_(0, 0.05, gen);
        m.train();
        var qb = BranchBuilder.Build(chat, Question(), new AnswerSuffix(), 512, TruncationMode.Drop);
        var obj = new CompactObjective(m, tok, new CompactOptions { Lambda = 0 });
        var ps = lora.Parameters().ToList();

        var o = obj.Run(qb, WeightMode.Compact, withLoss: true);
        Assert.NotEqual(1.0 / 3, o.Weights.Alpha[0], 3);                 // the weights are not uniform
        o.Loss!.backward();
        var joint = ps.Select(p => p.grad!.clone()).ToList();

        var sum = ps.Select(p => torch.zeros_like(p)).ToList();
        for (int k = 0; k < qb.K; k++)
        {
            foreach (var p in ps) p.grad?.zero_();
            var single = obj.Run(qb with { Branches = [qb.Branches[k]] }, WeightMode.Uniform, withLoss: true);
            single.Loss!.backward();                                      // L_SFT(k) alone, computed unpadded
            for (int i = 0; i < ps.Count; i++) sum[i].add_(ps[i].grad!.mul(o.Weights.Alpha[k]));
        }
        for (int i = 0; i < ps.Count; i++)
            Assert.True(TestUtil.MaxAbsDiff(joint[i], sum[i]) < 1e-6f, $"parameter {i}: {TestUtil.MaxAbsDiff(joint[i], sum[i])}");
    }

    [Fact]
    public void Scores_come_with_every_question_and_weights_sum_to_one()
    {
        var (m, tok, chat) = TinyStudent("qwen2-tiny");
        using var _m = m;
        var qb = BranchBuilder.Build(chat, Question(), new AnswerSuffix(), 512, TruncationMode.Drop);
        Assert.Equal(3, qb.K);
        // Every branch ends in the same answer tokens.
        Assert.All(qb.Branches, b => Assert.Equal(qb.AnswerIds, b.AnswerIds));
        Assert.Equal(" 145", tok.Decode(qb.AnswerIds));
        Assert.Equal("145", tok.Decode(qb.ProbeIds));                  // the space before the number carries no answer
        foreach (var est in new[] { MiEstimator.Probe, MiEstimator.Exact, MiEstimator.Reference })
        {
            var obj = new CompactObjective(m, tok, new CompactOptions { Estimator = est, ExactStride = 3 });
            var o = obj.Run(qb, WeightMode.Compact, withLoss: false);
            Assert.Null(o.Loss);
            Assert.Equal(1.0, o.Weights.Alpha.Sum(), 9);
            Assert.All(o.Weights.Mi, x => Assert.True(double.IsFinite(x) && x >= 0));
            Assert.All(o.Weights.Cons, x => Assert.True(x is >= 0 and <= 2));
            Assert.Equal(3, o.Log.Alpha.Count);
        }
    }

    [Fact]
    public void Consensus_with_similarity_attention_gives_the_dissenting_rationale_the_lowest_score()
    {
        // A student whose last-layer attention scores similar states higher: q_proj = k_proj expanded by head
        // (every query head copies its KV head), so QKᵀ is a positive semi-definite kernel.
        var (m, tok, chat) = TinyStudent("llama-tiny", seed: 3);
        using var _m = m;
        var attn = m.Layers[^1].self_attn;
        var c = m.Config;
        using (torch.no_grad())
        {
            using var kw = attn.k_proj.weight.view(c.NumKvHeads, c.HeadDim, c.HiddenSize);
            using var qw = kw.repeat_interleave(c.KvGroups, 0).reshape(c.QueryWidth, c.HiddenSize);
            attn.q_proj.weight.copy_(qw);
        }
        var q = new MtQuestion("q", "Philip has 290 bananas in 2 groups. How big is each group?", "145",
        [
            new("a", "Divide 290 bananas by 2 groups: 290 / 2 = 145 bananas in each group."),
            new("b", "Each group has 290 / 2 = 145 bananas, dividing the 290 bananas into 2 groups."),
            new("c", "290 bananas in 2 groups: 290 / 2 = 145 bananas per group."),
            new("d", "ZQXJ VVKW PPYY QQZZ XXJJ WWKK YYQQ ZZVV JJXX KKWW QQYY VVZZ."),
        ]);
        var qb = BranchBuilder.Build(chat, q, new AnswerSuffix(), 512, TruncationMode.Drop);
        var o = new CompactObjective(m, tok, new CompactOptions()).Run(qb, WeightMode.Compact, withLoss: false);
        Assert.Equal(3, Array.IndexOf(o.Weights.Cons, o.Weights.Cons.Min()));
    }
}

public class ExactEstimatorTests
{
    [Fact]
    public void Cached_batched_continuations_equal_recomputing_each_prefix()
    {
        var (m, tok, chat) = ObjectiveTests.TinyStudent("qwen3-tiny", seed: 9);
        using var _m = m;
        var q = new MtQuestion("q", "What is 6 times 7?", "42", [new("a", "Six sevens: 7, 14, 21, 28, 35, 42. So 42.")]);
        var qb = BranchBuilder.Build(chat, q, new AnswerSuffix(), 512, TruncationMode.Drop);
        var b = qb.Branches[0];
        var obj = new CompactObjective(m, tok, new CompactOptions { Estimator = MiEstimator.Exact, ExactStride = 5, ExactBatch = 3 });
        var (ts, l) = obj.ExactTrajectory(b, qb.ProbeIds);
        Assert.Equal(b.RationaleStart, ts[0]);
        Assert.Equal(b.RationaleEnd - 1, ts[^1]);
        using var _ = torch.no_grad();
        for (int i = 0; i < ts.Count; i++)
        {
            // Naive: the whole sequence x, r≤t, lead-in, answer, in one uncached forward.
            var seq = b.Encoded.Ids.Take(ts[i] + 1).Concat(b.Encoded.Ids.Skip(b.RationaleEnd).Take(b.AnswerEnd - b.RationaleEnd)).Select(x => (long)x).ToArray();
            using var ids = torch.tensor(seq, [1, seq.Length]);
            using var o = m.Forward(ids);
            using var logp = m.Logits(o.Hidden).log_softmax(-1);
            int aStart = seq.Length - (b.AnswerEnd - b.AnswerStart);
            var vals = new List<double>();
            for (int j = 0; j < b.AnswerEnd - b.AnswerStart; j++)
            {
                int id = b.Encoded.Ids[b.AnswerStart + j];
                if (qb.ProbeIds.Contains(id)) vals.Add(logp[0, aStart + j - 1, id].item<float>());
            }
            Assert.Equal(vals.Average(), l[i], 4);
        }
    }
}

public class BatchedQuestionsTests
{
    [Fact]
    public void Several_questions_in_one_batch_give_each_question_what_it_gets_alone()
    {
        var (m, tok, chat) = ObjectiveTests.TinyStudent("qwen2-tiny", seed: 4);
        using var _m = m;
        var q1 = new MtQuestion("a", "What is 3 + 4?", "7", [new("x", "3 + 4 = 7."), new("y", "Add them: 7."), new("z", "Four more than three is 7, so 7.")]);
        var q2 = new MtQuestion("b", "What is 10 - 6?", "4", [new("x", "10 - 6 = 4."), new("z", "Take six away: 4.")]);
        var qbs = new[] { q1, q2 }.Select(q => BranchBuilder.Build(chat, q, new AnswerSuffix(), 256, TruncationMode.Drop)).ToList();
        var obj = new CompactObjective(m, tok, new CompactOptions());
        var (loss, outs) = obj.RunMany(qbs, WeightMode.Compact, withLoss: true);
        var alone = qbs.Select(q => obj.Run(q, WeightMode.Compact, withLoss: true)).ToList();
        for (int i = 0; i < 2; i++)
        {
            for (int k = 0; k < qbs[i].K; k++) Assert.Equal(alone[i].Weights.Alpha[k], outs[i].Weights.Alpha[k], 5);
            Assert.Equal(alone[i].Weights.Cons, outs[i].Weights.Cons, (a, b) => Math.Abs(a - b) < 1e-5);
        }
        Assert.Equal((alone[0].Loss!.item<float>() + alone[1].Loss!.item<float>()) / 2, loss!.item<float>(), 4);
    }
}
