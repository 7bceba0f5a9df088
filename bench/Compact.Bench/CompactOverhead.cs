using System.Diagnostics;
using System.Text.Json.Nodes;
using Compact.Distill;
using Compact.Models;
using Compact.Tokenization;
using Compact.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Bench;

/// <summary>compact-overhead: a training step (forward, backward, optimizer) of COMPACT vs the uniform average on the
/// same questions: the scores come from the same forward, so the probe estimator should cost ≤ 15% more; the cost of
/// the exact estimator (extra teacher-forced passes) is reported too. Real multi-teacher text: the first questions of
/// the committee SVAMP file (three teachers). Options: --preset qwen2-small --questions 8 --repeats 3 --exact-stride 4.</summary>
public static class CompactOverhead
{
    public static int Run(string[] argv)
    {
        var a = new BenchArgs(argv);
        string preset = a.Get("preset", "qwen2-small");
        int n = a.Get("questions", 8), repeats = a.Get("repeats", 3), stride = a.Get("exact-stride", 4);
        a.RequireAllUsed();
        Devices.ConfigureThreads();
        var questions = MultiTeacherBench.Committee(n);
        using var bench = MultiTeacherBench.Create(questions, preset);
        var (tok, m, opt, qbs) = (bench.Tokenizer, bench.Model, bench.Optimizer, bench.Branches);
        long tokens = qbs.Sum(q => q.Branches.Sum(b => b.Length));

        double Time(WeightMode mode, CompactOptions o)
        {
            var obj = new CompactObjective(m, tok, o);
            double best = double.MaxValue;
            for (int r = 0; r <= repeats; r++)
            {
                var sw = Stopwatch.StartNew();
                foreach (var qb in qbs)
                {
                    using var scope = NewDisposeScope();
                    var res = obj.Run(qb, mode, withLoss: true);
                    res.Loss!.backward();
                    opt.step();
                    opt.zero_grad();
                }
                if (r > 0) best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            return best / qbs.Count;
        }
        Time(WeightMode.Uniform, new CompactOptions { Lambda = 0 });                 // warm-up of every code path
        double uniform = Time(WeightMode.Uniform, new CompactOptions { Lambda = 0 });
        double uniformCons = Time(WeightMode.Uniform, new CompactOptions());
        double probe = Time(WeightMode.Compact, new CompactOptions());
        double probeEval = Time(WeightMode.Compact, new CompactOptions { ScoreMode = ScoreMode.Eval });
        double exact = Time(WeightMode.Compact, new CompactOptions { Estimator = MiEstimator.Exact, ExactStride = stride });
        double overhead = probe / uniformCons - 1;
        Console.WriteLine($"compact-overhead: {preset}, {qbs.Count} questions × 3 teachers ({tokens / qbs.Count} tokens per question)");
        Console.WriteLine($"  uniform (SFT only)       {1000 * uniform:0.0} ms/question");
        Console.WriteLine($"  uniform + consistency   {1000 * uniformCons:0.0} ms/question");
        Console.WriteLine($"  compact, probe MI       {1000 * probe:0.0} ms/question  (+{100 * overhead:0.0}% over the same losses without scores; target ≤ 15%)");
        Console.WriteLine($"  compact, probe MI, --score-mode eval {1000 * probeEval:0.0} ms/question  (+{100 * (probeEval / probe - 1):0.0}% over train score mode)");
        Console.WriteLine($"  compact, exact MI (s={stride}) {1000 * exact:0.0} ms/question  ({exact / probe:0.0}× probe)");
        var result = new JsonObject
        {
            ["preset"] = preset, ["questions"] = qbs.Count, ["tokens_per_question"] = tokens / qbs.Count,
            ["uniform_ms"] = Math.Round(1000 * uniform, 2), ["uniform_consistency_ms"] = Math.Round(1000 * uniformCons, 2),
            ["compact_probe_ms"] = Math.Round(1000 * probe, 2), ["compact_exact_ms"] = Math.Round(1000 * exact, 2),
            ["compact_probe_eval_score_mode_ms"] = Math.Round(1000 * probeEval, 2), ["eval_score_mode_overhead"] = Math.Round(probeEval / probe - 1, 3), ["exact_stride"] = stride,
            ["probe_overhead"] = Math.Round(overhead, 3), ["probe_overhead_vs_sft_only"] = Math.Round(probe / uniform - 1, 3),
            ["target_overhead_le_0.15"] = overhead <= 0.15,
        };
        Console.WriteLine($"  → {BenchUtil.WriteResult("compact-overhead", result)}");
        return 0;
    }
}
