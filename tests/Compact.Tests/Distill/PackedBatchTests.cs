using Compact.Distill;
using Compact.Models;
using Compact.Cli;
using Compact.Tests.Benchmarks;
using Compact.Tokenization;
using Compact.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Tests.Distill;

/// <summary>Packed rows (branches back to back, positions restarting, block-diagonal causal mask) against one padded
/// row per branch: the same hidden states for every sequence, so the same scores, α, losses and gradients.</summary>
public class PackedBatchTests
{
    [Fact]
    public void Packing_lays_sequences_first_fit_decreasing_with_positions_restarting()
    {
        // Lengths 3, 5, 2, 4 with rows of 7: 5 → row 0 (fill 5); 4 → row 1 (4); 3 → row 1 (7); 2 → row 0 (7).
        var seqs = new[] { 3, 5, 2, 4 }.Select((n, s) => (IReadOnlyList<int>)Enumerable.Range(10 * s, n).ToList()).ToList();
        var tg = seqs.Select(q => q.Select(_ => true).ToArray()).ToList();
        using var b = SequenceBatch.Create(BatchLayout.Packed, seqs, tg, padId: 0, torch.CPU, rowCapacity: 7);
        Assert.Equal(new[] { 1, 0, 0, 1 }, b.Row);
        Assert.Equal(new[] { 4, 0, 5, 0 }, b.Start);
        Assert.Equal((2, 7), (b.Rows, b.Width));
        Assert.Equal(14, b.RealTokens);
        Assert.Equal(14, b.SlotTokens);
        Assert.Equal(new long[] { 10, 11, 12, 13, 14, 20, 21 }, b.Ids[0].data<long>().ToArray());
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 0, 1 }, b.Positions![0].data<long>().ToArray());
        Assert.Equal(new long[] { 30, 31, 32, 33, 0, 1, 2 }, b.Ids[1].data<long>().ToArray());
        Assert.Equal(new Segment(1, 0, 4), b.Segments![3]);
    }

    [Theory]
    [InlineData("qwen2-tiny")]
    [InlineData("gemma3-tiny")]      // a sliding-window layer (window 16) inside sequences longer than the window
    [InlineData("mistral-tiny")]
    public void A_packed_row_gives_each_sequence_the_hidden_states_it_has_alone(string preset)
    {
        using var m = TestUtil.TinyModel(preset, 96, seed: 4);
        m.eval();
        var lengths = new[] { 23, 5, 40, 1 };
        var seqs = lengths.Select((n, s) => (IReadOnlyList<int>)Enumerable.Range(0, n).Select(j => (7 * j + 13 * s) % 96).ToList()).ToList();
        using var b = SequenceBatch.Create(BatchLayout.Packed, seqs, seqs.Select(q => new bool[q.Count]).ToList(), 0, torch.CPU);
        Assert.Equal(1, b.Rows);
        EachSequenceHasItsHiddenStatesAlone(m, b, seqs);
    }

    [Theory]
    [InlineData("qwen2-tiny")]
    [InlineData("gemma3-tiny")]      // window 16: the branches' windows reach back into the shared prompt
    public void Shared_prompts_give_each_sequence_the_hidden_states_it_has_alone(string preset)
    {
        using var m = TestUtil.TinyModel(preset, 96, seed: 4);
        m.eval();
        var prompt = Enumerable.Range(0, 12).Select(j => (5 * j + 3) % 96).ToList();
        var seqs = new[] { 23, 5, 40 }.Select((n, s) => (IReadOnlyList<int>)prompt.Concat(Enumerable.Range(0, n).Select(j => (7 * j + 13 * s + 1) % 96)).ToList())
            .Append(Enumerable.Range(0, 9).Select(j => (3 * j) % 96).ToList()).ToList();
        using var b = SequenceBatch.Create(BatchLayout.Shared, seqs, seqs.Select(q => new bool[q.Count]).ToList(), 0, torch.CPU, groups: [0, 0, 0, 1]);
        Assert.Equal(seqs.Sum(q => q.Count) - 2 * 12, (int)b.SlotTokens);
        EachSequenceHasItsHiddenStatesAlone(m, b, seqs);
    }

    /// <summary>Several rows, padded at their ends (a row capacity of 60): real queries must not see the padding.</summary>
    [Theory]
    [InlineData(BatchLayout.Packed)]
    [InlineData(BatchLayout.Shared)]
    public void Rows_padded_at_their_ends_give_each_sequence_the_hidden_states_it_has_alone(BatchLayout layout)
    {
        using var m = TestUtil.TinyModel("qwen2-tiny", 96, seed: 4);
        m.eval();
        var prompt = Enumerable.Range(0, 12).Select(j => (5 * j + 3) % 96).ToList();
        var seqs = new[] { 23, 5, 40, 30 }.Select((n, s) => (IReadOnlyList<int>)prompt.Concat(Enumerable.Range(0, n).Select(j => (7 * j + 13 * s + 1) % 96)).ToList()).ToList();
        using var b = SequenceBatch.Create(layout, seqs, seqs.Select(q => new bool[q.Count]).ToList(), 0, torch.CPU, rowCapacity: 60, groups: [0, 0, 1, 1]);
        Assert.True(b.Rows > 1 && b.SlotTokens > (layout == BatchLayout.Packed ? b.RealTokens : b.RealTokens - 24));
        EachSequenceHasItsHiddenStatesAlone(m, b, seqs);
    }

    /// <summary>Every position of every sequence, read through the batch, has the hidden state the sequence gets alone.</summary>
    static void EachSequenceHasItsHiddenStatesAlone(CausalLM m, SequenceBatch b, IReadOnlyList<IReadOnlyList<int>> seqs)
    {
        using var _ = torch.no_grad();
        using var packed = b.Forward(m);
        for (int s = 0; s < seqs.Count; s++)
        {
            using var ids = torch.tensor(seqs[s].Select(x => (long)x).ToArray(), [1, seqs[s].Count]);
            using var alone = m.Forward(ids);
            using var part = b.At(packed.Hidden, Enumerable.Repeat(s, seqs[s].Count).ToList(), Enumerable.Range(0, seqs[s].Count).ToList());
            Assert.True(TestUtil.MaxAbsDiff(alone.Hidden[0], part) < 1e-5f, $"sequence {s}: {TestUtil.MaxAbsDiff(alone.Hidden[0], part)}");
        }
    }

    static List<QuestionBranches> Committee(ChatFormat chat, int n) => BenchmarkFiles.Committee.Take(n)
        .Select(c => new MtQuestion(c.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), c.Question, c.Gold,
            c.Rationales.Select(r => new Rationale(r.Teacher, r.Text)).ToList()))
        .Select(q => BranchBuilder.Build(chat, q, new AnswerSuffix(), 1024, TruncationMode.Drop)).ToList();

    // (The exact estimator runs its own passes per branch, whatever the layout.)
    [Theory]
    [InlineData(MiEstimator.Probe, ScoreMode.Train)]
    [InlineData(MiEstimator.Probe, ScoreMode.Eval)]
    public void Packed_and_padded_steps_give_the_same_alpha_losses_and_gradients(MiEstimator estimator, ScoreMode scoreMode)
    {
        var (m, tok, chat) = ObjectiveTests.TinyStudent("qwen2-tiny", seed: 6);
        using var _m = m;
        using var lora = LoraAdapters.Attach(m, new LoraConfig { Rank = 4, Dropout = 0 }, seed: 3);
        using var gen = new torch.Generator(11);
        using (torch.no_grad()) foreach (var p in lora.Parameters()) p.normal_(0, 0.05, gen);
        m.train();
        var qbs = Committee(chat, 3);
        Assert.All(qbs, q => Assert.Equal(3, q.K));
        // The committee's teachers differ in length: padding is a real share of the padded batch.
        Assert.True(qbs.SelectMany(q => q.Branches).Select(b => b.Length).Distinct().Count() > 3);
        var ps = lora.Parameters().ToList();

        (IReadOnlyList<QuestionOutcome> Outs, float Loss, List<Tensor> Grads) Step(BatchLayout layout)
        {
            var obj = new CompactObjective(m, tok, new CompactOptions { Layout = layout, Estimator = estimator, ExactStride = 8, ScoreMode = scoreMode });
            foreach (var p in ps) p.grad?.zero_();
            var (loss, outs) = obj.RunMany(qbs, WeightMode.Compact, withLoss: true);
            loss!.backward();
            return (outs, loss.item<float>(), ps.Select(p => p.grad!.clone()).ToList());
        }
        var padded = Step(BatchLayout.Padded);
        foreach (var layout in new[] { BatchLayout.Packed, BatchLayout.Shared })
            SameAsPadded(padded, Step(layout));

        void SameAsPadded((IReadOnlyList<QuestionOutcome> Outs, float Loss, List<Tensor> Grads) padded,
            (IReadOnlyList<QuestionOutcome> Outs, float Loss, List<Tensor> Grads) packed)
        {
        Assert.Equal(padded.Loss, packed.Loss, 4);
        for (int q = 0; q < qbs.Count; q++)
        {
            Assert.NotEqual(1.0 / 3, padded.Outs[q].Weights.Alpha[0], 3);            // COMPACT weights, not uniform
            // float32 sums in another order: scores agree to ~1e-6, the z-scored fusion magnifies that to ~1e-5 in α.
            Assert.Equal(padded.Outs[q].Weights.Alpha, packed.Outs[q].Weights.Alpha, (a, b) => Math.Abs(a - b) < 1e-4);
            Assert.Equal(padded.Outs[q].Weights.Ppl, packed.Outs[q].Weights.Ppl, (a, b) => Math.Abs(a - b) < 1e-5);
            Assert.Equal(padded.Outs[q].Weights.Cons, packed.Outs[q].Weights.Cons, (a, b) => Math.Abs(a - b) < 1e-5);
            Assert.Equal(padded.Outs[q].Weights.Logits, packed.Outs[q].Weights.Logits, (a, b) => Math.Abs(a - b) < 1e-3);
            Assert.Equal(padded.Outs[q].Weights.Mi, packed.Outs[q].Weights.Mi, (a, b) => Math.Abs(a - b) < 1e-4);
            Assert.Equal(padded.Outs[q].ConsPart, packed.Outs[q].ConsPart, 5);
            Assert.True(padded.Outs[q].ConsPart > 0);
            Assert.Equal(padded.Outs[q].Tokens, packed.Outs[q].Tokens);
        }
        for (int i = 0; i < ps.Count; i++)
        {
            float scale = padded.Grads[i].abs().max().item<float>();
            Assert.True(scale > 0, $"parameter {i} has no gradient");
            Assert.True(TestUtil.MaxAbsDiff(padded.Grads[i], packed.Grads[i]) <= 1e-4f * Math.Max(1, scale),
                $"parameter {i}: {TestUtil.MaxAbsDiff(padded.Grads[i], packed.Grads[i])} (scale {scale})");
        }
        }
    }

    [Fact]
    public void Mcc_pairs_and_single_branches_pack_like_they_pad()
    {
        var (m, tok, chat) = ObjectiveTests.TinyStudent("llama-tiny", seed: 8);
        using var _m = m;
        m.eval();
        var qbs = Committee(chat, 2);
        var pairs = qbs.Select(q => q with { Branches = [q.Branches[0], q.Branches[2]] }).ToList();
        var single = qbs.Select(q => q with { Branches = [q.Branches[1]] }).ToList();
        foreach (var (qs, weight) in new[] { (pairs, (Func<int, int, double>?)((_, _) => 0.1)), (single, null) })
        {
            float Loss(BatchLayout layout) => new CompactObjective(m, tok, new CompactOptions { Layout = layout })
                .RunMany(qs, WeightMode.Uniform, withLoss: true, weight).Loss!.item<float>();
            Assert.Equal(Loss(BatchLayout.Padded), Loss(BatchLayout.Packed), 4);
            Assert.Equal(Loss(BatchLayout.Padded), Loss(BatchLayout.Shared), 4);
        }
    }

    [Fact]
    public void A_shared_prefix_is_laid_once_and_each_branch_continues_its_positions()
    {
        // Group 0: [1 2 3 4 5], [1 2 3 9], [1 2 7] share "1 2" (p = 2); group 1 is a single sequence [8 8 8].
        var seqs = new[] { new[] { 1, 2, 3, 4, 5 }, [1, 2, 3, 9], [1, 2, 7], [8, 8, 8] }.Select(x => (IReadOnlyList<int>)x).ToList();
        using var b = SequenceBatch.Create(BatchLayout.Shared, seqs, seqs.Select(q => q.Select(_ => true).ToArray()).ToList(), 0, torch.CPU,
            groups: [0, 0, 0, 1]);
        // Units: group 0 = 2 + 3 + 2 + 1 = 8 tokens, then the single sequence: one row of 11.
        Assert.Equal((1, 11), (b.Rows, b.Width));
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 3, 9, 7, 8, 8, 8 }, b.Ids[0].data<long>().ToArray());
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 2, 3, 2, 0, 1, 2 }, b.Positions![0].data<long>().ToArray());
        Assert.Equal(new[] { 1, 1, 1, 5, 6, 7, 8 }, new[] { b.Col(0, 1), b.Col(1, 1), b.Col(2, 1), b.Col(1, 2), b.Col(1, 3), b.Col(2, 2), b.Col(3, 0) });
        Assert.Equal(1, SequenceBatch.CommonPrefix([[1, 2], [1, 2, 3]]));      // each keeps one token of its own
        Assert.Equal(new Segment(0, 0, 2), b.Segments![0]);
        Assert.Equal(new Segment(0, 2, 3, Prefix: 0), b.Segments[1]);
        Assert.Equal((15L, 11L), (b.RealTokens, b.SlotTokens));
        Assert.Equal(new Segment(0, 5, 2, Prefix: 0), b.Segments[2]);
        Assert.Equal(new Segment(0, 7, 1, Prefix: 0), b.Segments[3]);
        Assert.Equal(new Segment(0, 8, 3), b.Segments[4]);                              // the other group shares nothing
    }
}

public class TokenBudgetCliTests(Qwen3Student s) : IClassFixture<Qwen3Student>
{
    static (int Code, string Out, string Err) Run(params string[] args) => TestUtil.RunCli(args);

    [Fact]
    public void Distill_packs_questions_by_tokens_and_refuses_a_budget_below_a_question()
    {
        var data = s.Dir["budget.jsonl"];
        MultiTeacherData.Write(data, [Qwen3Student.Item("q1"), Qwen3Student.Item("q2") with { Answer = "12" }, Qwen3Student.Item("q3")]);
        var ok = Run("distill", "--model", s.Model, "--data", data, "--out", s.Dir["budget-run"], "--max-steps", "1", "--grad-accum", "1", "--lora-r", "4",
            "--max-tokens-per-batch", "100000");
        Assert.True(ok.Code == 0, ok.Err + ok.Out);
        // All three questions fit one micro-batch: each step logs all three.
        var first = System.Text.Json.Nodes.JsonNode.Parse(File.ReadLines(Path.Combine(s.Dir["budget-run"], "metrics.jsonl")).First())!;
        Assert.Equal(3, first["items"]!.AsArray().Count);

        var low = Run("distill", "--model", s.Model, "--data", data, "--out", s.Dir["budget-low"], "--max-steps", "1", "--max-tokens-per-batch", "10");
        Assert.Equal(1, low.Code);
        Assert.Matches(@"^error: --max-tokens-per-batch 10 is below the longest question \(item \d: \d+ tokens over all its branches\); raise it to at least \d+ or lower --max-seq-len\.\s*$", low.Err);
        var zero = Run("distill", "--model", s.Model, "--data", data, "--out", s.Dir["budget-zero"], "--max-tokens-per-batch", "0");
        Assert.NotEqual(0, zero.Code);
        Assert.Contains("--max-tokens-per-batch", zero.Err);
    }
}
