using Compact.Demo;
using Compact.Distill;
using Compact.Tokenization;
using Compact.Training;

namespace Compact.Tests.Demo;

/// <summary>Issue 11, fault 1: a branch's target must be the very tokens the student produced in pre-training.</summary>
public class DemoFormatTests
{
    static ChatFormat DemoChat(TestUtil.TempDir dir)
    {
        var rng = new Random(1);
        var corpus = Enumerable.Range(0, 400).Select(i => World.Original(rng, i)).ToList();
        DemoStudent.TrainTokenizer(0, DemoScale.Quick.VocabSize, corpus, dir.Path);
        return ChatFormat.For(Student.LoadTokenizer(dir.Path));
    }

    [Fact]
    public void Branch_target_equals_the_pretraining_target_token_for_token()
    {
        using var dir = new TestUtil.TempDir();
        var chat = DemoChat(dir);
        var rng = new Random(7);
        var knowns = Enumerable.Range(0, 30).Select(i => World.Original(rng, i)).ToList();
        foreach (var k in knowns)
        {
            // Pre-training encodes (question, "reasoning. The answer is: N"); the branch is built from the reasoning alone
            // with the demo's suffix. They must be one and the same sequence, target mask included.
            var pre = chat.EncodeExample(null, k.Question, k.Target);
            var qb = BranchBuilder.Build(chat, new MtQuestion("q", k.Question, k.Answer, [new Rationale("t", k.Reasoning)]), World.Suffix, 512, TruncationMode.Drop);
            var b = Assert.Single(qb.Branches);
            Assert.Equal(pre.Ids, b.Encoded.Ids);
            Assert.Equal(pre.IsTarget, b.Encoded.IsTarget);
            Assert.Null(qb.Problem);
            Assert.Equal(chat.Tokenizer.Encode(" " + k.Answer), b.AnswerIds);
        }

        // A teacher's multi-step rationale ends with the same tokens as a fact's target: the suffix after "." is what
        // pre-training taught, e.g. "… So Mia has 9 apples. The answer is: 9" against "12 - 3 = 9. The answer is: 9".
        var p = World.Parse("Mia has 7 apples. Then Mia buys 5 more. Then Mia gives 3 to a friend. How many apples does Mia have now?")!;
        var concise = ScriptedTeacher.Concise(p, new Random(0)).Text;
        Assert.Equal("7 + 5 = 12. 12 - 3 = 9. So Mia has 9 apples.", concise);
        var branch = BranchBuilder.Build(chat, new MtQuestion("p", p.Text, "9", [new Rationale("concise", concise)]), World.Suffix, 512, TruncationMode.Drop).Branches[0];
        var fact = chat.EncodeExample(null, "What is 12 - 3?", "12 - 3 = 9. The answer is: 9");
        int tail = chat.Tokenizer.Encode(". The answer is: 9").Count;
        var branchTail = branch.Encoded.Ids.Take(branch.Encoded.AssistantEnd).TakeLast(tail).ToList();
        var factTail = fact.Ids.Take(fact.AssistantEnd).TakeLast(tail).ToList();
        Assert.Equal(factTail, branchTail);

        // The library's default suffix ("\n\nThe answer is: {answer}") would not match: this test can fail.
        var old = BranchBuilder.Build(chat, new MtQuestion("q", knowns[0].Question, knowns[0].Answer, [new Rationale("t", knowns[0].Reasoning)]), new AnswerSuffix(), 512, TruncationMode.Drop);
        Assert.NotEqual(chat.EncodeExample(null, knowns[0].Question, knowns[0].Target).Ids, old.Branches[0].Encoded.Ids);
    }
}
