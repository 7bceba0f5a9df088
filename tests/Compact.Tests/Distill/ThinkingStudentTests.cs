using System.Text.Json.Nodes;
using Compact.Cli;
using Compact.Distill;
using Compact.Tests.Tokenization;
using Compact.Tokenization;
using Compact.Training;
using TorchSharp;

namespace Compact.Tests.Distill;

/// <summary>A tiny Qwen3 student (`compact init --family qwen3 --size tiny`) whose tokenizer carries the real Qwen3
/// chat_template (think block, reasoning_content), with byte tokens only, so that encoding a whole rendered string
/// gives the same ids as the per-segment encoding and expected ids can be written as plain text.</summary>
public sealed class Qwen3Student : IDisposable
{
    public TestUtil.TempDir Dir { get; } = new();
    public string Model => Dir["model"];

    public Qwen3Student()
    {
        var template = JsonNode.Parse(File.ReadAllText(Path.Combine(RealTokenizers.EnsureFiles(RealTokenizers.Qwen3Package), HfTokenizer.ConfigFileName)))!
            ["chat_template"]!.GetValue<string>();
        Assert.Contains("reasoning_content", template);
        var bpe = ByteLevelBpeTrainer.BytesOnly(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]) with { ChatTemplate = template };
        bpe.Save(Dir["tok"]);
        Assert.Equal(0, CompactCli.Run(["init", "--family", "qwen3", "--size", "tiny", "--tokenizer", Dir["tok"], "--out", Model, "--seed", "3"],
            TextWriter.Null, TextWriter.Null));
    }

    public const string Question = "Tom has 3 boxes with 4 apples in each box. How many apples does he have?";

    // R1-style (DeepSeek-R1 distills write "<think>\n…\n</think>\n\n" then a summary), QwQ-style (the template already
    // opened the block, so the text starts inside it and only closes it), and a plain rationale.
    public const string R1 = "<think>\nOkay, so Tom has 3 boxes and each box holds 4 apples. Let me multiply: 3 times 4 is 12. "
        + "Wait, let me double-check by adding: 4 + 4 + 4 = 12. Yes, that's right.\n</think>\n\nTom has 3 × 4 = **12** apples.\n\nThe answer is: 12";
    public const string QwQ = "Alright, 3 boxes of 4 apples each. Hmm, 3 * 4 = 12.\n</think>\n\nSo he has 12 apples.";
    public const string Plain = "Each box has 4 apples and there are 3 boxes, so 3 * 4 = 12.";

    public static MtQuestion Item(string id = "q1") => new(id, Question, "12", [new("r1", R1), new("qwq", QwQ), new("plain", Plain)]);

    public void Dispose() => Dir.Dispose();
}

public class ThinkingStudentTests(Qwen3Student s) : IClassFixture<Qwen3Student>
{
    [Theory]
    // A teacher's think block: thought and the text after it, joined by a blank line.
    [InlineData("<think>\nA.\n</think>\n\nB.", "A.\n\nB.")]
    // QwQ: closing marker only.
    [InlineData("A.\n</think>\n\nB.", "A.\n\nB.")]
    // Nothing after the block: the thought alone.
    [InlineData("<think>\nA.\n</think>\n", "A.")]
    // Text before the opening marker is dropped, as Qwen3's template drops it.
    [InlineData("x <think>A.</think>B.", "A.\n\nB.")]
    // No markers: unchanged; an unmatched opening marker is removed.
    [InlineData("A. So B.", "A. So B.")]
    [InlineData("<think>A.", "A.")]
    public void Reasoning_is_unwrapped_from_a_teachers_think_block(string rationale, string expected) =>
        Assert.Equal(expected, ChatFormat.ReasoningOf(rationale));

    [Fact]
    public void Rationale_goes_in_the_think_block_and_the_answer_statement_after_it()
    {
        var tok = Student.LoadTokenizer(s.Model);
        var chat = ChatFormat.For(tok);
        Assert.True(chat.Info.ThinkBlock);
        var qb = BranchBuilder.Build(chat, Qwen3Student.Item(), new AnswerSuffix(), 4096, TruncationMode.Drop);
        Assert.Null(qb.Problem);
        Assert.Equal(3, qb.K);
        // Qwen3's template with reasoning_content R and content C renders
        // "<think>\n" + R.strip("\n") + "\n</think>\n\n" + C.lstrip("\n"); C = the suffix "The answer is: 12"
        // (its leading blank line stripped), R = the rationale without its own markers and closing statement.
        string[] reasoning =
        [
            "Okay, so Tom has 3 boxes and each box holds 4 apples. Let me multiply: 3 times 4 is 12. Wait, let me double-check by adding: 4 + 4 + 4 = 12. Yes, that's right.\n\nTom has 3 × 4 = **12** apples.",
            "Alright, 3 boxes of 4 apples each. Hmm, 3 * 4 = 12.\n\nSo he has 12 apples.",
            Qwen3Student.Plain,
        ];
        for (int k = 0; k < 3; k++)
        {
            var b = qb.Branches[k];
            var expected = $"<|im_start|>user\n{Qwen3Student.Question}<|im_end|>\n<|im_start|>assistant\n<think>\n{reasoning[k]}\n</think>\n\nThe answer is: 12<|im_end|>\n";
            Assert.Equal(tok.Encode(expected), b.Encoded.Ids);           // bytes-only: whole-string encoding = segment encoding
            Assert.Equal(reasoning[k], tok.Decode(b.Encoded.Ids.Skip(b.RationaleStart).Take(b.RationaleEnd - b.RationaleStart)));
            Assert.Equal(" 12", tok.Decode(b.AnswerIds));
        }
        Assert.Equal(" 12", tok.Decode(qb.AnswerIds));
        Assert.Equal("12", tok.Decode(qb.ProbeIds));
    }

    [Fact]
    public void A_question_whose_answer_spans_are_empty_or_differ_has_a_problem()
    {
        var q = Qwen3Student.Item();
        var e = new EncodedExample([1, 2, 3, 4, 5, 6], 1, 5, 6);
        var f = new EncodedExample([1, 2, 3, 4, 7, 6], 1, 5, 6);
        // Spans [4, 5): ids [5] vs [7]; an empty span [5, 5).
        Assert.Null(BranchBuilder.AnswerSpanProblem(q, [new("a", e, 1, 3, 4, 5, false), new("b", e, 1, 3, 4, 5, false)]));
        Assert.Equal("question q1: b's answer span differs from a's",
            BranchBuilder.AnswerSpanProblem(q, [new("a", e, 1, 3, 4, 5, false), new("b", f, 1, 3, 4, 5, false)]));
        Assert.Equal("question q1: b's branch has an empty answer span",
            BranchBuilder.AnswerSpanProblem(q, [new("a", e, 1, 3, 4, 5, false), new("b", e, 1, 3, 5, 5, false)]));
    }

    static (int Code, string Out, string Err) Run(params string[] args) => TestUtil.RunCli(args);

    [Fact]
    public void Distill_and_score_run_on_rationales_with_think_blocks()
    {
        var data = s.Dir["think.jsonl"];
        MultiTeacherData.Write(data, [Qwen3Student.Item("q1"), Qwen3Student.Item("q2") with { Answer = "12" }]);
        var check = Run("data", "check", data, "--model", s.Model);
        Assert.True(check.Code == 0, check.Err + check.Out);

        var run = s.Dir["run"];
        var d = Run("distill", "--model", s.Model, "--data", data, "--out", run, "--max-steps", "2", "--grad-accum", "1", "--lr", "5e-2", "--lora-r", "4");
        Assert.True(d.Code == 0, d.Err + d.Out);
        Assert.Contains("0 questions skipped for an empty or differing answer span", d.Out);

        foreach (var mode in new[] { "train", "eval" })
        {
            var outPath = s.Dir[$"scores-{mode}.jsonl"];
            var sc = Run("score", "--model", s.Model, "--adapter", Path.Combine(run, "adapter"), "--data", data, "--out", outPath, "--score-mode", mode);
            Assert.True(sc.Code == 0, sc.Err + sc.Out);
            Assert.Contains($"Score mode: {mode}", sc.Out);
            var lines = File.ReadAllLines(outPath).Select(l => JsonNode.Parse(l)!).ToList();
            Assert.Equal(2, lines.Count);
            foreach (var l in lines)
            {
                Assert.Equal(mode, l["score_mode"]!.GetValue<string>());
                var alpha = l["alpha"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
                Assert.Equal(3, alpha.Length);
                Assert.All(alpha, a => Assert.True(double.IsFinite(a) && a > 0));
                Assert.Equal(1.0, alpha.Sum(), 5);
            }
        }
    }
}

public class ScoreModeTests(Qwen3Student s) : IClassFixture<Qwen3Student>
{
    [Fact]
    public void Score_and_training_give_the_same_alpha_in_eval_mode_and_dropout_moves_it_in_train_mode()
    {
        using var st = Student.Load(new StudentOptions { ModelDir = s.Model, Lora = new LoraConfig { Rank = 4, Dropout = 0.1 }, Seed = 5 });
        using var gen = new torch.Generator(5);                                // not the global generator parallel tests share
        using (torch.no_grad())
            foreach (var p in st.Trainable) p.normal_(0, 0.3, gen);            // with B = 0, LoRA dropout would change nothing
        var qb = BranchBuilder.Build(st.Chat, Qwen3Student.Item(), new AnswerSuffix(), 4096, TruncationMode.Drop);
        CompactObjective Objective(ScoreMode m) => new(st.Model, st.Tokenizer, new CompactOptions { ScoreMode = m });
        double[] Training(ScoreMode m, long position)
        {
            st.Model.train();
            st.Model.Dropout.Position = position;
            var o = Objective(m).Run(qb, WeightMode.Compact, withLoss: true);
            o.Loss!.Dispose();
            Assert.Equal(m.ToString().ToLowerInvariant(), o.Log.ScoreMode);
            return o.Weights.Alpha;
        }
        double[] Scored(ScoreMode m, long position)
        {
            st.Model.eval();
            st.Model.Dropout.Position = position;
            return Objective(m).Score(qb).Weights.Alpha;
        }

        var trainEval = Training(ScoreMode.Eval, 0);
        var scoreEval = Scored(ScoreMode.Eval, 123);                             // no dropout: the stream's position is irrelevant
        for (int i = 0; i < 3; i++) Assert.Equal(trainEval[i], scoreEval[i], 6);

        // Train mode: the training pass's dropout moves the weights away from the dropout-free ones, and `score` in
        // train mode draws the same masks as the training step when the dropout stream stands at the same position.
        var trainTrain = Training(ScoreMode.Train, 7);
        Assert.True(trainTrain.Zip(trainEval).Max(x => Math.Abs(x.First - x.Second)) > 1e-4, string.Join(", ", trainTrain.Concat(trainEval)));
        var scoreTrain = Scored(ScoreMode.Train, 7);
        for (int i = 0; i < 3; i++) Assert.Equal(trainTrain[i], scoreTrain[i], 5);
        Assert.False(st.Model.training);                                         // Score restores the model's mode
    }
}
