using Compact.Distill;
using Compact.Models;
using Compact.Tokenization;
using Compact.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Compact.Bench;

/// <summary>What the multi-teacher step benchmarks share: real teacher text, and a random-weight student with LoRA r16
/// and an AdamW optimizer over a BPE tokenizer trained on that text, with every question's branches built.</summary>
public sealed class MultiTeacherBench : IDisposable
{
    public required HfTokenizer Tokenizer { get; init; }
    public required CausalLM Model { get; init; }
    public required LoraAdapters Lora { get; init; }
    public required OptimizerHelper Optimizer { get; init; }
    public required List<QuestionBranches> Branches { get; init; }

    /// <summary>The first n questions of the committee SVAMP file that have all three teachers' rationales.</summary>
    public static List<MtQuestion> Committee(int n)
    {
        var data = Path.Combine(BenchUtil.SharedBenchmarks(), "committee_svamp_multiteacher_rationales.json");
        return Teach.DatasetImport.Load(data, "committee").Questions.Where(q => q.Rationales.Count == 3).Take(n).ToList();
    }

    public static MultiTeacherBench Create(IReadOnlyList<MtQuestion> questions, string preset)
    {
        var tok = ByteLevelBpeTrainer.Train(questions.SelectMany(q => q.Rationales.Select(r => r.Text).Append(q.Question)), 1024).ToTokenizer();
        var chat = ChatFormat.For(tok);
        var m = new CausalLM(Presets.Get(preset).Make(tok.VocabSize), ScalarType.Float32, torch.CPU);
        m.InitializeRandom(1);
        var lora = LoraAdapters.Attach(m, new LoraConfig { Rank = 16 }, 1);
        m.train();
        return new MultiTeacherBench
        {
            Tokenizer = tok, Model = m, Lora = lora, Optimizer = torch.optim.AdamW(lora.Parameters(), 1e-4),
            Branches = questions.Select(q => BranchBuilder.Build(chat, q, new AnswerSuffix(), 2048, TruncationMode.TruncateStart)).ToList(),
        };
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        Lora.Dispose();
        Model.Dispose();
    }
}
