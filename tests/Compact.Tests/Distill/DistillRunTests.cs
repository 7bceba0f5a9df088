using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Compact.Cli;
using Compact.Distill;
using Compact.IO;
using Compact.Models;
using Compact.Tests.Training;
using Compact.Training;
using Compact.Util;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Tests.Distill;

/// <summary>The typed run configuration, DistillRecipe's pure parts (MCC pairs, loss recombination), MoT's merge, and a
/// distillation run's resume through the command line.</summary>
public class DistillRunTests
{
    static (int Code, string Out, string Err) Run(params string[] args) => TestUtil.RunCli(args);

    /// <summary>Four questions answered by three teachers (MCC draws pairs out of three).</summary>
    internal static string Data(TestUtil.TempDir dir, int n = 4)
    {
        var qs = Enumerable.Range(0, n).Select(i =>
        {
            int a = i + 2, b = 2 * i + 1;
            return new MtQuestion($"q{i}", $"What is {a} plus {b}?", $"{a + b}",
            [
                new("t1", $"We add {a} and {b}. So the sum is {a + b}."),
                new("t2", $"First take {a}. Then add {b}. Therefore {a + b}."),
                new("t3", $"Hmm, {a} and {b} together make {a + b}."),
            ]);
        });
        MultiTeacherData.Write(dir["mt.jsonl"], qs);
        return dir["mt.jsonl"];
    }

    static DistillConfig Config(string model, string data, string outDir) => new()
    {
        Model = model, Data = data, Out = outDir, Seed = 3,
        Train = new TrainConfig { MaxSteps = 3, Lr = 1e-2, BatchSize = 2, GradAccum = 1, MaxSeqLen = 128 },
        Lora = new LoraConfig { Rank = 2, Alpha = 4 },
    };

    [Fact]
    public void Config_is_written_and_read_by_the_same_type_and_an_unknown_key_is_an_error()
    {
        using var dir = new TestUtil.TempDir();
        var c = Config("m", "d.jsonl", dir.Path) with { Method = DistillMethod.Mcc, Compact = new CompactConfig { BetaMi = 0 } };
        c.Save(dir.Path);
        var text = File.ReadAllText(dir[Engine.RunConfigFile]);
        // The schema, spelled out: snake_case keys in sections, enums as words.
        Assert.Contains("\"method\": \"mcc\"", text);
        Assert.Contains("\"truncation\": \"truncate-start\"", text);
        Assert.Contains("\"schedule\": \"constant\"", text);
        Assert.Contains("\"beta_mi\": 0", text);
        Assert.Contains("\"lora_alpha\": 4", text);
        var back = DistillConfig.Load(dir[Engine.RunConfigFile]);
        Assert.Equal(c.ToJsonString(), back.ToJsonString());
        Assert.Equal(DistillMethod.Mcc, back.Method);
        Assert.Equal(0.0, back.Compact.BetaMi);

        File.WriteAllText(dir["bad.json"], text.Replace("\"lambda\"", "\"lamda\""));
        var e = Assert.Throws<CompactException>(() => DistillConfig.Load(dir["bad.json"]));
        Assert.Contains("bad.json", e.Message);
        Assert.Contains("lamda", e.Message);
    }

    [Fact]
    public void Settings_that_may_differ_on_resume_are_the_configs_own_json_paths()
    {
        var c = Config("no-such-model", "no-such-data.jsonl", "/runs/a");
        var moved = c with { Out = "/runs/b", Device = "cuda", Train = c.Train with { SaveEvery = 5, KeepLast = 9, Resume = true, StopAfter = 1 } };
        var before = RunIdentity.Compute(c.ToJson(), c.MayDifferOnResume);
        Assert.Empty(RunIdentity.Differences(before, RunIdentity.Compute(moved.ToJson(), moved.MayDifferOnResume), c.MayDifferOnResume));
        var changed = c with { Train = c.Train with { Lr = 0.02 }, Compact = c.Compact with { Lambda = 0.5 } };
        var diffs = RunIdentity.Differences(before, RunIdentity.Compute(changed.ToJson(), changed.MayDifferOnResume), c.MayDifferOnResume);
        Assert.Equal(["compact.lambda: 0.1 → 0.5", "train.lr: 0.01 → 0.02"], diffs.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Mcc_pairs_are_two_different_branches_and_a_function_of_seed_and_draw()
    {
        for (int k = 2; k <= 5; k++)
            for (long draw = 0; draw < 200; draw++)
            {
                var (a, b) = DistillRecipe.DrawPair(7, draw, k);
                Assert.InRange(a, 0, k - 1);
                Assert.InRange(b, 0, k - 1);
                Assert.NotEqual(a, b);
                Assert.Equal((a, b), DistillRecipe.DrawPair(7, draw, k));                // a resumed run draws the same
            }
        // Every ordered pair of 3 branches comes up, about equally: 600 draws, 6 pairs, 100 expected each (σ ≈ 9).
        var counts = Enumerable.Range(0, 600).Select(d => DistillRecipe.DrawPair(1, d, 3)).GroupBy(p => p).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(6, counts.Count);
        Assert.All(counts.Values, n => Assert.InRange(n, 60, 140));
        // Another seed draws another sequence.
        Assert.NotEqual(Enumerable.Range(0, 20).Select(d => DistillRecipe.DrawPair(1, d, 3)), Enumerable.Range(0, 20).Select(d => DistillRecipe.DrawPair(2, d, 3)));
    }

    [Fact]
    public void Parts_of_a_micro_batch_are_recombined_weighted_by_their_question_counts()
    {
        // Pairs part: mean loss 2.0 over 1 question; single part: mean 5.0 over 3 → (2·1 + 5·3) / 4 = 4.25, not (2 + 5) / 2.
        using var a = torch.tensor(2.0f);
        using var b = torch.tensor(5.0f);
        using var l = DistillRecipe.Recombine([(a, 1), (b, 3)]);
        Assert.Equal(4.25, l.item<float>(), 6);
        using var one = DistillRecipe.Recombine([(b, 3)]);
        Assert.Equal(5.0, one.item<float>(), 6);
    }

    [Fact]
    public void Mot_merge_adds_the_mean_of_the_branch_deltas_to_the_base_weight()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        using var m = CausalLM.Load(model);
        var cfg = new LoraConfig { Rank = 1, Alpha = 1, Dropout = 0, TargetModules = ["q_proj"] };           // scaling α/r = 1
        // Branch 1: A = e0ᵀ, B = e0 → ΔW1 = e0·e0ᵀ (1 at [0,0]); branch 2: A = e1ᵀ, B = 2·e0 → ΔW2 = 2 at [0,1].
        // Only layer 0's q_proj; every other adapter has B = 0 (no delta). Mean: 0.5 at [0,0], 1.0 at [0,1].
        string Save(string name, int col, float scale)
        {
            using var set = LoraAdapters.Attach(m, cfg, seed: 1);
            using (torch.no_grad())
                foreach (var (module, _, ad) in set.Items)
                {
                    ad.A.zero_();
                    ad.B.zero_();
                    if (module != "model.layers.0.self_attn.q_proj") continue;
                    ad.A[0, col] = 1f;
                    ad.B[0, 0] = scale;
                }
            set.Save(dir[name], model);
            return dir[name];
        }
        var a1 = Save("a1", 0, 1f);
        var a2 = Save("a2", 1, 2f);
        var q0 = m.named_parameters().Single(p => p.name == "model.layers.0.self_attn.q_proj.weight").parameter;
        var q1 = m.named_parameters().Single(p => p.name == "model.layers.1.self_attn.q_proj.weight").parameter;
        using var before0 = q0.detach().clone();
        using var before1 = q1.detach().clone();
        MotRunner.MergeAverage(m, [a1, a2]);
        using var expected = torch.zeros_like(before0);
        expected[0, 0] = 0.5f;
        expected[0, 1] = 1.0f;
        using var delta0 = q0.detach().sub(before0);
        Assert.True(delta0.allclose(expected, rtol: 0, atol: 1e-6), "layer 0 q_proj: W + mean ΔW");
        Assert.True(q1.detach().allclose(before1, rtol: 0, atol: 0), "layer 1 q_proj had no delta");
        Assert.All(m.modules().OfType<Linear>(), l => Assert.Null(l.Lora));                                  // adapters removed
    }

    [Fact]
    public void Interrupted_and_resumed_run_ends_where_the_uninterrupted_one_does()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var data = Data(dir);
        // MCC-KD: its pair draws are part of the resumed state; two micro-batches per step (token-weighted).
        string[] Args(string outDir, params string[] extra) =>
            ["distill", "--model", model, "--data", data, "--out", outDir, "--method", "mcc", "--max-steps", "4", "--batch-size", "1",
             "--grad-accum", "2", "--lr", "2e-2", "--lora-r", "2", "--lora-dropout", "0.1", "--max-seq-len", "128", "--seed", "5", .. extra];
        var full = Run(Args(dir["full"]));
        Assert.True(full.Code == 0, full.Err + full.Out);

        var first = Run(Args(dir["split"], "--stop-after", "2"));
        Assert.Equal(130, first.Code);
        Assert.Contains("stopped at step 2 of 4", first.Out);
        Assert.False(File.Exists(dir["split/summary.json"]));
        var changed = Run([.. Args(dir["split"], "--resume"), "--mcc-weight", "0.5"]);
        Assert.Equal(1, changed.Code);
        Assert.Contains("mcc_weight", changed.Err);
        var resumed = Run(Args(dir["split"], "--resume", "--save-every", "1"));             // save_every may differ
        Assert.True(resumed.Code == 0, resumed.Err + resumed.Out);
        Assert.Contains("Resuming", resumed.Out);

        var a = SafeTensorsFile.Open(dir["full/adapter/adapter_model.safetensors"]);
        var b = SafeTensorsFile.Open(dir["split/adapter/adapter_model.safetensors"]);
        using (a)
        using (b)
        {
            Assert.Equal(a.Entries.Select(e => e.Name).Order(), b.Entries.Select(e => e.Name).Order());
            foreach (var e in a.Entries)
            {
                using var ta = a.ReadTensor(e);
                using var tb = b.ReadTensor(b.Entries.Single(x => x.Name == e.Name));
                Assert.True(ta.allclose(tb, rtol: 0, atol: 1e-6), e.Name);
            }
        }
        var la = StepRecord.ReadAll(dir["full/metrics.jsonl"]).ToList();
        var lb = StepRecord.ReadAll(dir["split/metrics.jsonl"]).ToList();
        Assert.Equal([1, 2, 3, 4], lb.Select(r => r.Step));
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(la[i].Loss!.Value, lb[i].Loss!.Value, 5);
            Assert.Equal(la[i].Items!.Select(q => (q.Id, string.Join(",", q.Teachers))), lb[i].Items!.Select(q => (q.Id, string.Join(",", q.Teachers))));
        }
        var summary = RunSummary.TryRead(dir["split"])!;
        Assert.Equal("distill mcc", summary.Verb);
        Assert.Equal(4, summary.Steps);
        Assert.Equal(DistillMethod.Mcc, DistillConfig.Load(dir["split/run_config.json"]).Method);
    }

    [Fact]
    public void Every_method_runs_from_one_config_on_branches_built_once()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var data = Data(dir);
        var chat = Compact.Tokenization.ChatFormat.For(Student.LoadTokenizer(model));
        var built = DistillRun.Prepare(Config(model, data, dir["x"]), chat, TextWriter.Null);
        Assert.Equal(4, built.Count);
        foreach (var (method, teacher) in new[] { (DistillMethod.Compact, (string?)null), (DistillMethod.Uniform, null), (DistillMethod.Single, "t2"),
                     (DistillMethod.Mcc, null), (DistillMethod.Mot, null) })
        {
            var name = DistillRun.Name(method);
            var c = Config(model, data, dir[name]) with { Method = method, Teacher = teacher, Train = Config(model, data, "").Train with { MaxSteps = 2 } };
            var r = DistillRun.Run(c, TextWriter.Null, ProgressHost.Silent, options: new DistillRunOptions { Questions = built });
            Assert.False(r.Stopped, name);
            Assert.Equal(name, r.Summary!.Method);
            Assert.True(Directory.Exists(r.Summary.Output), name);
            Assert.Equal(c.ToJsonString(), DistillConfig.Load(Path.Combine(dir[name], Engine.RunConfigFile)).ToJsonString());
            if (method == DistillMethod.Mot) { Assert.EndsWith("model", r.Summary.Output); continue; }
            var steps = StepRecord.ReadAll(Path.Combine(dir[name], Engine.MetricsFile)).ToList();
            Assert.Equal([1, 2], steps.Select(x => x.Step));
            // Single: only t2's branch is trained and weighed (α = 1); the others weigh their questions' branches.
            var teachers = steps.SelectMany(x => x.Items!).SelectMany(q => q.Teachers).Distinct().Order().ToList();
            Assert.Equal(method switch { DistillMethod.Single => ["t2"], DistillMethod.Mcc => teachers, _ => ["t1", "t2", "t3"] }, teachers);
            if (method == DistillMethod.Mcc) Assert.All(steps.SelectMany(x => x.Items!), q => Assert.Equal(2, q.Teachers.Count));
            if (method == DistillMethod.Single) Assert.All(steps.SelectMany(x => x.Items!), q => Assert.Equal([1.0], q.Alpha));
        }
    }

    [Fact]
    public void Score_takes_no_lambda_and_help_texts_name_only_documents_that_ship()
    {
        var root = CompactCli.Build();
        var score = root.Subcommands.Single(c => c.Name == "score");
        Assert.DoesNotContain("--lambda", score.Options.Select(o => o.Name));
        Assert.Contains("--beta-mi", score.Options.Select(o => o.Name));
        Assert.Contains("--lambda", root.Subcommands.Single(c => c.Name == "distill").Options.Select(o => o.Name));
        Assert.NotEqual(0, Run("score", "--model", "m", "--data", "d", "--out", "o", "--lambda", "0.5").Code);

        // Every description of every command, option and argument (what --help prints).
        var texts = new List<string>();
        void Walk(System.CommandLine.Command c)
        {
            texts.Add(c.Description ?? "");
            texts.AddRange(c.Options.Select(o => o.Description ?? ""));
            texts.AddRange(c.Arguments.Select(a => a.Description ?? ""));
            foreach (var sub in c.Subcommands) Walk(sub);
        }
        Walk(root);
        var cited = texts.SelectMany(t => Regex.Matches(t, @"[\w./-]+\.md\b").Select(mm => mm.Value)).Distinct().ToList();
        Assert.Contains("docs/METHOD.md", cited);
        var repo = TestUtil.RepoRoot();
        // Documents (README.md, METHOD.md), not output files the commands write (results.md, report.md).
        foreach (var doc in cited.Where(d => char.IsUpper(d.Split('/')[^1][0])))
            Assert.True(File.Exists(Path.Combine(repo, doc)), $"--help cites {doc}, which the repository does not have");
    }
}

/// <summary>Runs alone: the live tensor count is process-wide.</summary>
[Collection("Serial")]
public class DistillLeakTests
{
    [Fact]
    public void Live_tensor_count_is_flat_over_a_distillation_run()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var data = DistillRunTests.Data(dir, 6);
        var counts = new Dictionary<int, long>();
        var config = new DistillConfig
        {
            Model = model, Data = data, Out = dir["run"], Seed = 1,
            Train = new TrainConfig { MaxSteps = 16, Lr = 1e-2, BatchSize = 1, GradAccum = 1, MaxSeqLen = 128 },
            Lora = new LoraConfig { Rank = 2 },
        };
        var r = DistillRun.Run(config, TextWriter.Null, ProgressHost.Silent,
            options: new DistillRunOptions
            {
                OnStep = s => { if (s is 4 or 16) { GC.Collect(); GC.WaitForPendingFinalizers(); counts[s] = torch.Tensor.TotalCount; } },
            });
        Assert.False(r.Stopped);
        Assert.Equal(16, r.Train!.Steps);
        Assert.True(counts[16] <= counts[4], $"live tensors grew from {counts[4]} at step 4 to {counts[16]} at step 16");
    }
}
