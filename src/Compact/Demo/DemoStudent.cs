using System.Globalization;
using System.Text.Json.Nodes;
using Compact.IO;
using Compact.Models;
using Compact.Tokenization;
using Compact.Training;
using Compact.Util;
using TorchSharp;

namespace Compact.Demo;

/// <summary>The demo's student: a fresh tiny model with a byte-level BPE tokenizer learned on the world's text,
/// pre-trained on original knowledge (facts, one-step problems, comparisons) in the world's answer format. Each
/// pre-training example is a fresh draw (one pass, nothing to memorise), and training stops when the loss on held-out
/// original-knowledge items stops improving (issue 11, fault 4: running to loss 0.06 over 2.7 epochs left a student
/// that put 10–16 nats on ordinary new tokens). Beside it, pretrain_heldout.jsonl records the loss on text the student
/// has not seen the like of (concise multi-step solutions), as a measure of its confidence on new tokens.</summary>
public static class DemoStudent
{
    public const string HeldOutFile = "pretrain_heldout.jsonl";

    /// <summary>The pre-trained student, cached under out/student and reused while its key (world version, scale,
    /// seed) is unchanged; pre-training itself resumes from its checkpoints.</summary>
    public static string Pretrain(DemoOptions o, DemoScale s, TextWriter log, ProgressHost progress, CancellationToken ct)
    {
        var dir = Path.Combine(o.Out, "student");
        var key = new JsonObject
        {
            ["world"] = DemoRunner.WorldVersion, ["stop_on"] = "heldout-original-knowledge, patience 2", ["scale"] = s.Name, ["preset"] = s.Preset, ["max_steps"] = s.PretrainMaxSteps, ["batch"] = s.PretrainBatch,
            ["lr"] = s.PretrainLr, ["eval_every"] = s.PretrainEvalEvery, ["seed"] = o.Seed, ["vocab"] = s.VocabSize,
        };
        var keyPath = Path.Combine(dir, "demo_student.json");
        if (File.Exists(keyPath) && File.ReadAllText(keyPath) == key.ToJsonString() && File.Exists(Path.Combine(dir, "config.json")))
        {
            log.WriteLine($"Reusing the pre-trained student in {dir}.");
            return dir;
        }
        var work = Path.Combine(o.Out, "cache", "pretrain");
        var workKey = Path.Combine(work, "key.json");
        if (Directory.Exists(work) && (!File.Exists(workKey) || File.ReadAllText(workKey) != key.ToJsonString())) Directory.Delete(work, true);
        Directory.CreateDirectory(work);
        File.WriteAllText(workKey, key.ToJsonString());

        var rng = new Random(Seeds.Mix(o.Seed, 5));
        var corpus = Enumerable.Range(0, s.PretrainMaxSteps * s.PretrainBatch).Select(i => World.Original(rng, i)).ToList();
        var init = Path.Combine(work, "init");
        if (!File.Exists(Path.Combine(init, "config.json"))) MakeInitialModel(o, s, corpus, init);

        var dataPath = Path.Combine(work, "pretrain.jsonl");
        AtomicFile.WriteAllText(dataPath, string.Concat(corpus.Select(x => new JsonObject { ["question"] = x.Question, ["target"] = x.Target }.ToJsonString(Jsonl.Options) + "\n")));
        using var st = Student.Load(new StudentOptions { ModelDir = init, Full = true, Seed = o.Seed });
        var (examples, _) = SftData.Load(dataPath, st.Chat, 256, TruncationMode.Drop, false);
        var (known, fresh) = HeldOut(o, s, st.Chat);
        var heldOut = new SftRecipe(st, known);
        var newText = new SftRecipe(st, fresh);

        // Early stopping: every EvalEvery steps, the held-out loss; stop (through the engine's cancellation, which
        // saves a checkpoint) after two evaluations in a row that do not improve on the best by 1%.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var curvePath = Path.Combine(work, HeldOutFile);
        double best = double.PositiveInfinity;
        int stoppedAt = 0, flat = 0;
        var eo = new EngineOptions
        {
            OutDir = Path.Combine(work, "run"), MicroBatch = s.PretrainBatch, MaxSteps = s.PretrainMaxSteps, Seed = o.Seed, SaveEvery = s.PretrainEvalEvery,
            Resume = true, Title = "pretrain student", Shuffle = false, Charts = Plots.Charts,
            Optim = new OptimizerOptions { Lr = s.PretrainLr, WarmupSteps = Math.Max(1, s.PretrainMaxSteps / 20), WeightDecay = 0.01, Schedule = ScheduleKind.Constant },
            OnStep = step =>
            {
                if (step % s.PretrainEvalEvery != 0 || step == s.PretrainMaxSteps) return;
                double loss = Loss(heldOut);
                File.AppendAllText(curvePath, new JsonObject
                {
                    ["step"] = step, ["heldout_loss"] = Math.Round(loss, 5), ["new_text_loss"] = Math.Round(Loss(newText), 5),
                }.ToJsonString() + "\n");
                flat = loss > best * 0.99 ? flat + 1 : 0;
                if (flat >= 2) { stoppedAt = step; stop.Cancel(); }
                best = Math.Min(best, loss);
            },
        };
        var summary = Engine.Run(new SftRecipe(st, examples), eo, new JsonObject { ["pretrain"] = key.DeepClone() }, log, progress, stop.Token);
        ct.ThrowIfCancellationRequested();
        double final = Loss(heldOut);
        var tmpOut = dir + ".tmp";
        if (Directory.Exists(tmpOut)) Directory.Delete(tmpOut, true);
        st.Model.Save(tmpOut);
        Student.CopyTokenizerFiles(init, tmpOut);
        if (File.Exists(curvePath)) File.Copy(curvePath, Path.Combine(tmpOut, HeldOutFile), true);
        File.WriteAllText(Path.Combine(tmpOut, "demo_student.json"), key.ToJsonString());
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        Directory.Move(tmpOut, dir);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Pre-trained student: {summary.Steps} steps{(stoppedAt > 0 ? " (stopped: held-out loss no longer improving)" : "")}, train loss {summary.FinalLoss:0.000}, held-out loss {final:0.000} → {dir}"));
        return dir;
    }

    /// <summary>The student's tokenizer, saved to dir: byte-level BPE learned on the student's own knowledge plus the
    /// kind of text it will meet (problems, teacher prose, the answer format).</summary>
    public static void TrainTokenizer(long seed, int vocabSize, IReadOnlyList<Known> corpus, string dir)
    {
        var rng = new Random(Seeds.Mix(seed, 6));
        var text = corpus.Take(6000).Select(x => x.Question + " " + x.Target)
            .Concat(World.Problems(seed + 1000, 300, 2, 6, "tok").SelectMany(p => new[]
                { p.Text, ScriptedTeacher.Verbose(p, rng).Text, World.Target(ScriptedTeacher.Concise(p, rng).Text, p.Answer.ToString(CultureInfo.InvariantCulture)) }));
        // Llama 3's pre-tokenizer keeps numbers whole (up to three digits), so each quantity of the world is one token.
        var bpe = ByteLevelBpeTrainer.Train(text, vocabSize, splitRegex: ByteLevelBpeTrainer.Llama3SplitRegex);
        Directory.CreateDirectory(dir);
        bpe.Save(dir);
    }

    static void MakeInitialModel(DemoOptions o, DemoScale s, IReadOnlyList<Known> corpus, string init)
    {
        if (Directory.Exists(init)) Directory.Delete(init, true);
        var tmp = init + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        TrainTokenizer(o.Seed, s.VocabSize, corpus, tmp);
        var tok = Student.LoadTokenizer(tmp);
        var cfg = Presets.Get(s.Preset).Make(tok.VocabSize) with
        {
            EosTokenIds = tok.EosId is { } e ? [e] : [], PadTokenId = tok.PadId, MaxPositionEmbeddings = 1024,
        };
        using (var m = new CausalLM(cfg, torch.ScalarType.Float32, torch.CPU))
        {
            m.InitializeRandom(o.Seed + 1);
            m.Save(tmp);
        }
        Directory.Move(tmp, init);
    }

    /// <summary>Held-out original-knowledge items (fresh draws; the stopping criterion), and concise solutions with the
    /// world's answer format of multi-step problems that are in no training or test split (recorded only).</summary>
    static (List<SftExample> Known, List<SftExample> NewText) HeldOut(DemoOptions o, DemoScale s, ChatFormat chat)
    {
        var rng = new Random(Seeds.Mix(o.Seed, 9));
        List<SftExample> Encode(IEnumerable<(string Q, string T)> xs) => xs.Select((x, i) => new SftExample(i, chat.EncodeExample(null, x.Q, x.T), false)).ToList();
        var known = Encode(Enumerable.Range(0, s.HeldOutItems).Select(i => World.Original(rng, i)).Select(k => (k.Question, k.Target)));
        var fresh = Encode(World.Problems(o.Seed, s.HeldOutItems, s.MinSteps, s.MaxSteps, "heldout")
            .Select(p => (p.Text, World.Target(ScriptedTeacher.Concise(p, rng).Text, p.Answer.ToString(CultureInfo.InvariantCulture)))));
        return (known, fresh);
    }

    /// <summary>Token-weighted mean loss of a recipe's examples, without gradients.</summary>
    static double Loss(SftRecipe r)
    {
        using var _ = torch.no_grad();
        double sum = 0;
        long tokens = 0;
        for (int i = 0; i < r.ItemCount; i += 16)
        {
            using var scope = torch.NewDisposeScope();
            var res = r.Forward(Enumerable.Range(i, Math.Min(16, r.ItemCount - i)).ToArray());
            sum += res.Loss.item<float>() * res.Tokens;
            tokens += res.Tokens;
        }
        return sum / Math.Max(1, tokens);
    }
}
