using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.IO;
using Compact.Models;
using Compact.Training;
using Compact.Util;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Distill;

/// <summary>Merge-of-Thought (arXiv 2509.08814) as a baseline: in each round the current student is cloned into
/// one branch per teacher, branch k is fine-tuned (LoRA) on teacher k's rationales only, and the branches' weight
/// updates are averaged uniformly into the student (merged deltas ΔW = B·A·scaling, not A and B separately); the
/// result seeds the next round. Every branch is an ordinary engine run under out/mot/round-R/TEACHER, so it has
/// its own metrics and checkpoints; finished branches are reused on resume and earlier rounds are replayed from
/// their saved adapters. The result is a complete model in out/model.</summary>
public sealed class MotRunner
{
    public sealed record Options
    {
        public required string OutDir { get; init; }
        public int Rounds { get; init; } = 2;
        /// <summary>Optimizer steps per branch per round (null: EpochsPerBranch epochs over the teacher's rationales).</summary>
        public int? StepsPerBranch { get; init; }
        public int EpochsPerBranch { get; init; } = 1;
        public required EngineOptions Engine { get; init; }
    }

    public static string Run(Student student, IReadOnlyList<QuestionBranches> questions, Options o, TextWriter log, IProgressReporter progress,
        CancellationToken ct = default)
    {
        if (student.Lora is null) throw new CompactException("--method mot trains LoRA branches; it cannot be combined with --full.");
        var teachers = questions.SelectMany(q => q.Branches.Select(b => b.Teacher)).Distinct().OrderBy(t => t, StringComparer.Ordinal).ToList();
        var summary = new JsonArray();
        for (int round = 1; round <= o.Rounds; round++)
        {
            var adapters = new List<string>();
            foreach (var teacher in teachers)
            {
                var examples = questions.SelectMany(q => q.Branches.Where(b => b.Teacher == teacher))
                    .Select((b, i) => new SftExample(i, b.Encoded, b.Truncated)).ToList();
                if (examples.Count == 0) continue;
                var dir = Path.Combine(o.OutDir, "mot", $"round-{round}", Safe(teacher));
                var final = Path.Combine(dir, "adapter");
                if (!File.Exists(Path.Combine(final, LoraAdapters.WeightsFile)))
                {
                    ct.ThrowIfCancellationRequested();
                    student.ResetLora(Seeds.Mix(o.Engine.Seed, round * 1000 + teachers.IndexOf(teacher)));
                    var eo = o.Engine with
                    {
                        OutDir = dir,
                        Resume = Engine.LatestCheckpoint(Path.Combine(dir, Engine.CheckpointsDir)) is not null,
                        MaxSteps = o.StepsPerBranch,
                        Epochs = o.StepsPerBranch is null ? o.EpochsPerBranch : null,
                        Title = $"mot round {round}/{o.Rounds} {teacher}",
                    };
                    var cfg = new JsonObject { ["method"] = "mot", ["round"] = round, ["teacher"] = teacher, ["seed"] = eo.Seed };
                    var s = Engine.Run(new SftRecipe(student, examples), eo, cfg, log, progress, ct);
                    if (s.Stopped) throw new OperationCanceledException($"MoT stopped in round {round}, branch {teacher}; run again with --resume.");
                    student.Lora!.Save(final, Path.GetFullPath(student.Options.ModelDir));
                    summary.Add(new JsonObject { ["round"] = round, ["teacher"] = teacher, ["steps"] = s.Steps, ["final_loss"] = s.FinalLoss });
                }
                adapters.Add(final);
            }
            // W ← W + (1/K) Σ_k B_k A_k s_k, averaged in float32 and rounded once.
            student.Lora!.Dispose();
            MergeAverage(student.Model, adapters);
            log.WriteLine($"MoT round {round}/{o.Rounds}: merged the average of {adapters.Count} teacher branches.");
        }
        student.ResetLora(o.Engine.Seed);      // a zero adapter (B = 0) so the student object stays usable
        var outModel = Path.Combine(o.OutDir, "model");
        student.Model.Save(outModel);
        Student.CopyTokenizerFiles(student.Options.ModelDir, outModel);
        AtomicFile.WriteAllText(Path.Combine(o.OutDir, "mot_summary.json"), summary.ToJsonString(Compact.Util.Jsonl.Indented));
        return outModel;
    }

    /// <summary>W ← round(W + (1/K) Σ_k ΔW_k): the K adapters' deltas (B·A·scaling, float32) summed and averaged in
    /// float32 per layer, added to the float32 copy of the base weight, and rounded to the base dtype once, so that a
    /// bf16 base is not rounded K times (once per adapter) as merging them one after another would. The adapters
    /// (small) are all loaded; one layer's delta is in memory at a time.</summary>
    public static void MergeAverage(CausalLM model, IReadOnlyList<string> adapterDirs)
    {
        if (adapterDirs.Count == 0) return;
        var sets = new List<LoraAdapters>();
        try
        {
            foreach (var dir in adapterDirs)
            {
                var set = LoraAdapters.Load(model, dir);
                set.Detach();                                       // keep its tensors; free the layers for the next
                sets.Add(set);
            }
            var modules = sets[0].Items.Select(i => i.Module).ToList();
            for (int k = 1; k < sets.Count; k++)
                if (!sets[k].Items.Select(i => i.Module).SequenceEqual(modules))
                    throw new CompactException($"MoT: the adapter in {adapterDirs[k]} targets other modules than the one in {adapterDirs[0]}; train every branch with the same --lora-targets.");
            using var noGrad = torch.no_grad();
            for (int m = 0; m < modules.Count; m++)
            {
                using var scope = torch.NewDisposeScope();
                var lin = sets[0].Items[m].Layer;
                var sum = sets[0].Items[m].Adapter.DeltaWeight();                                      // (out, in) float32
                for (int k = 1; k < sets.Count; k++) sum.add_(sets[k].Items[m].Adapter.DeltaWeight());
                var merged = lin.weight.to(ScalarType.Float32).add_(sum.div_(sets.Count));
                lin.weight.copy_(merged);                                                               // the one rounding
            }
        }
        finally { foreach (var s in sets) s.Dispose(); }
    }

    static string Safe(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}
