using System.Diagnostics;
using System.Text.Json.Nodes;
using Compact.Demo;
using Compact.Distill;
using Compact.Models;
using Compact.Serving;
using Compact.Tokenization;
using Compact.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Bench;

/// <summary>compact-padding: what padding costs a COMPACT step, padded (one row per branch, right-padded) vs packed
/// (branches back to back, block-diagonal causal mask), with 1, 4 and 8 questions per micro-batch, on real teachers
/// (the committee SVAMP file: three teachers) and on the demo's four scripted teachers (a verbose one and a
/// shortcut one). Reports padded tokens / real tokens and step time (forward, backward, optimizer) per question,
/// against an SFT step over the same real tokens (the same packed batch, NLL only: no scores, no consistency loss).
/// Targets: padding waste ≤ 5% packed; packed step ≤ 1.1× the SFT step. Options: --preset qwen2-small --questions 8 --repeats 3.</summary>
public static class CompactPadding
{
    public static int Run(string[] argv)
    {
        var a = new BenchArgs(argv);
        string preset = a.Get("preset", "qwen2-small");
        int n = a.Get("questions", 8), repeats = a.Get("repeats", 3);
        a.RequireAllUsed();
        Devices.ConfigureThreads();
        var committee = MultiTeacherBench.Committee(n);
        var teachers = ScriptedTeacher.All();
        var demo = World.Problems(1, n, 2, 4, "padding").Select(p => new MtQuestion(p.Id, p.Text, p.Answer.ToString(System.Globalization.CultureInfo.InvariantCulture),
            teachers.Select(t => new Rationale(t.ModelId, t.Complete(new CompletionRequest { Messages = [new ChatMessage("user", p.Text)] }, null, default).Text)).ToList())).ToList();

        var result = new JsonObject { ["preset"] = preset, ["questions"] = n, ["load_average"] = LoadAverage() };
        var rows = new JsonArray();
        bool wasteOk = true, timeOk = true;
        foreach (var (name, questions) in new[] { ("committee-svamp", committee), ("demo", demo) })
        {
            using var bench = MultiTeacherBench.Create(questions, preset);
            var (tok, m, opt, qbs) = (bench.Tokenizer, bench.Model, bench.Optimizer, bench.Branches);
            var lengths = qbs.SelectMany(q => q.Branches.Select(b => b.Length)).ToList();
            Console.WriteLine($"compact-padding: {name}, {preset}, {qbs.Count} questions × {qbs[0].K} teachers; branch lengths {lengths.Min()}–{lengths.Max()} tokens (mean {lengths.Average():0})");
            foreach (int per in new[] { 1, 4, 8 })
            {
                var groups = qbs.Chunk(per).ToList();
                var row = new JsonObject { ["data"] = name, ["teachers"] = qbs[0].K, ["questions_per_micro_batch"] = per };
                // The three variants interleaved, best of `repeats` rounds each: the machine's load drifts, so ratios are
                // taken between timings of the same rounds.
                var paddedObj = new CompactObjective(m, tok, new CompactOptions { Layout = BatchLayout.Padded });
                var packedObj = new CompactObjective(m, tok, new CompactOptions { Layout = BatchLayout.Packed });
                var sharedObj = new CompactObjective(m, tok, new CompactOptions { Layout = BatchLayout.Shared });
                double Step(Action<IReadOnlyList<QuestionBranches>> f)
                {
                    var sw = Stopwatch.StartNew();
                    foreach (var g in groups)
                    {
                        using var scope = NewDisposeScope();
                        f(g);
                        opt.step();
                        opt.zero_grad();
                    }
                    return sw.Elapsed.TotalSeconds;
                }
                double tPadded = double.MaxValue, tPacked = double.MaxValue, tSft = double.MaxValue, tShared = double.MaxValue;
                for (int r = 0; r <= repeats; r++)
                {
                    double x = Step(g => paddedObj.RunMany(g, WeightMode.Compact, withLoss: true).Loss!.backward());
                    double y = Step(g => packedObj.RunMany(g, WeightMode.Compact, withLoss: true).Loss!.backward());
                    double w = Step(g => sharedObj.RunMany(g, WeightMode.Compact, withLoss: true).Loss!.backward());
                    // SFT over the same real tokens: the same packed batch, mean NLL only, backward, step.
                    double z = Step(g =>
                    {
                        var all = g.SelectMany(q => q.Branches).ToList();
                        using var b = SequenceBatch.Create(BatchLayout.Packed, all.Select(x => x.Encoded.Ids).ToList(), all.Select(x => x.Encoded.IsTarget).ToList(), tok.PadId, m.Device);
                        using var o = b.Forward(m);
                        using var lp = Losses.TargetLogProbs(m, o.Hidden, b);
                        lp.Nll.mean().backward();
                    });
                    if (r == 0) continue;                                                      // warm-up round
                    tPadded = Math.Min(tPadded, x); tPacked = Math.Min(tPacked, y); tSft = Math.Min(tSft, z); tShared = Math.Min(tShared, w);
                }
                foreach (var layout in new[] { BatchLayout.Padded, BatchLayout.Packed, BatchLayout.Shared })
                {
                    long slots = 0, real = 0;
                    foreach (var g in groups)
                    {
                        var all = g.SelectMany(q => q.Branches).ToList();
                        using var b = SequenceBatch.Create(layout, all.Select(x => x.Encoded.Ids).ToList(), all.Select(x => x.Encoded.IsTarget).ToList(), tok.PadId, m.Device,
                            groups: g.SelectMany((q, i) => Enumerable.Repeat(i, q.K)).ToList());
                        slots += b.SlotTokens; real += b.RealTokens;
                    }
                    string key = layout.ToString().ToLowerInvariant();
                    double s = layout switch { BatchLayout.Padded => tPadded, BatchLayout.Packed => tPacked, _ => tShared };
                    row[$"{key}_tokens_per_real_token"] = Math.Round((double)slots / real, 3);
                    row[$"{key}_padding_waste"] = Math.Round(1 - (double)real / slots, 3);
                    row[$"{key}_step_ms_per_question"] = Math.Round(1000 * s / qbs.Count, 2);
                    if (layout == BatchLayout.Packed) wasteOk &= 1 - (double)real / slots <= 0.05;
                }
                double sftMs = 1000 * tSft / qbs.Count;
                row["sft_same_tokens_ms_per_question"] = Math.Round(sftMs, 2);
                row["packed_over_sft"] = Math.Round(tPacked / tSft, 3);
                timeOk &= tPacked <= 1.1 * tSft;
                row["packed_speedup"] = Math.Round(row["padded_step_ms_per_question"]!.GetValue<double>() / row["packed_step_ms_per_question"]!.GetValue<double>(), 3);
                row["shared_over_packed"] = Math.Round(tShared / tPacked, 3);
                Console.WriteLine($"  {per} question(s)/micro-batch: padded {row["padded_tokens_per_real_token"]}× tokens, {row["padded_step_ms_per_question"]} ms/question; "
                    + $"packed {row["packed_tokens_per_real_token"]}× tokens (waste {100 * row["packed_padding_waste"]!.GetValue<double>():0.0}%, target ≤ 5%), {row["packed_step_ms_per_question"]} ms/question "
                    + $"= {row["packed_over_sft"]}× SFT over the same tokens ({sftMs:0.0} ms; target ≤ 1.1×); packed {row["packed_speedup"]}× faster than padded; "
                    + $"shared prompts {row["shared_tokens_per_real_token"]}× tokens, {row["shared_step_ms_per_question"]} ms/question = {row["shared_over_packed"]}× packed");
                rows.Add(row);
            }
        }
        result["runs"] = rows;
        result["target_packed_waste_le_0.05"] = wasteOk;
        result["target_packed_step_le_1.1x_sft"] = timeOk;
        Console.WriteLine($"  → {BenchUtil.WriteResult("compact-padding", result)}");
        return 0;
    }

    /// <summary>The 1-minute load average when the run started (Linux), to read absolute timings against.</summary>
    public static double? LoadAverage() =>
        File.Exists("/proc/loadavg") && double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.NumberStyles.Float,
            System.Globalization.CultureInfo.InvariantCulture, out var l) ? l : null;
}
