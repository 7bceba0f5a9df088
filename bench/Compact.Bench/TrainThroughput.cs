using System.Diagnostics;
using System.Text.Json.Nodes;
using Compact.Models;
using Compact.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Bench;

/// <summary>train-throughput: LoRA training steps (r 16 on all linear layers, AdamW, clipping) of a
/// Qwen2.5-0.5B-shaped model with random weights, sequence 512, in bfloat16: tokens/s, peak memory, and the model
/// FLOP utilisation against the matmul rate measured in the same run. LoRA step FLOPs: forward plus the backward
/// pass through the activations (the frozen base needs no weight gradients) ≈ 2 × forward. Target ≥ 35%. Prints the
/// best step's phases (forward with the loss, backward, optimizer, other).
/// Options: --preset qwen2.5-0.5b --seq 512 --batch 1 --steps 4 --dtype bfloat16 --checkpointing false.</summary>
public static class TrainThroughput
{
    public static int Run(string[] argv)
    {
        var a = new BenchArgs(argv);
        string preset = a.Get("preset", "qwen2.5-0.5b"), dtypeName = a.Get("dtype", "bfloat16");
        int seq = a.Get("seq", 512), batch = a.Get("batch", 1), steps = a.Get("steps", 4);
        bool ckpt = a.Get("checkpointing", "false") == "true";
        double dropout = double.Parse(a.Get("lora-dropout", "0.1"), System.Globalization.CultureInfo.InvariantCulture);
        bool profile = a.Get("profile", "false") == "true";
        a.RequireAllUsed();
        Devices.ConfigureThreads();
        var dtype = Devices.ParseDType(dtypeName);
        var cfg = Presets.Get(preset).Make(0);
        double rate = Measure.MachineRate(cfg, seq * batch, dtype);
        using var m = new CausalLM(cfg, dtype, torch.CPU);
        m.InitializeRandom(1);
        m.GradientCheckpointing = ckpt;
        using var lora = LoraAdapters.Attach(m, new LoraConfig { Rank = 16, Alpha = 32, Dropout = dropout }, 1);
        m.train();
        using var opt = torch.optim.AdamW(lora.Parameters(), 1e-4, weight_decay: 0.01);
        var rng = new Random(1);
        using var ids = torch.tensor(Enumerable.Range(0, seq * batch).Select(_ => (long)rng.Next(cfg.VocabSize)).ToArray(), [batch, seq]);
        using var target = torch.ones([batch, seq], dtype: ScalarType.Bool);
        // One step, timed by phase: forward (decoder and chunked loss), backward, optimizer (clipping, AdamW, zeroing).
        (double Total, double Forward, double Backward, double Optimizer) Step()
        {
            var sw = Stopwatch.StartNew();
            var scope = NewDisposeScope();                                             // disposed below: freeing is timed as "other"
            var o = m.Forward(ids);
            var lp = Losses.TargetLogProbs(m, o.Hidden, ids, target);                 // in the step's scope
            var loss = lp.Nll.mean();
            loss.item<float>();                                                       // CPU ops run eagerly; this only reads it
            double f = sw.Elapsed.TotalSeconds;
            loss.backward();
            double b = sw.Elapsed.TotalSeconds;
            torch.nn.utils.clip_grad_norm_(lora.Parameters(), 1.0);
            opt.step();
            opt.zero_grad();
            double u = sw.Elapsed.TotalSeconds;
            scope.Dispose();
            return (sw.Elapsed.TotalSeconds, f, b - f, u - b);
        }
        Step();                                                                       // warm-up
        if (profile)
        {
            double fwd = Measure.Best(2, () => { using var s = NewDisposeScope(); using var g = torch.no_grad(); var o = m.Forward(ids); });
            double fwdGrad = Measure.Best(2, () => { using var s = NewDisposeScope(); var o = m.Forward(ids); });
            double logits = Measure.Best(2, () => { using var s = NewDisposeScope(); var o = m.Forward(ids); using var lp = Losses.TargetLogProbs(m, o.Hidden, ids, target); });
            double full = Measure.Best(2, () => { using var s = NewDisposeScope(); var o = m.Forward(ids); using var lp = Losses.TargetLogProbs(m, o.Hidden, ids, target); lp.Nll.mean().backward(); opt.zero_grad(); });
            Console.WriteLine($"  profile: forward (no grad) {fwd * 1000:0} ms, forward (graph) {fwdGrad * 1000:0} ms, + loss {logits * 1000:0} ms, + backward {full * 1000:0} ms");
        }
        var phases = new List<(double Total, double Forward, double Backward, double Optimizer)>();
        for (int i = 0; i < steps; i++) phases.Add(Step());
        var best = phases.MinBy(x => x.Total);
        var times = phases.Select(x => x.Total).ToList();
        double t = times.Min();
        long tokens = (long)seq * batch;
        // Forward incl. logits at every position; backward through activations ≈ the same again.
        double flops = 2 * Measure.ForwardFlops(cfg, seq, 0, seq) * batch;
        double mfu = flops / t / rate;
        Console.WriteLine($"train-throughput: {preset} LoRA r16, {batch}×{seq} tokens, {dtypeName}{(ckpt ? ", gradient checkpointing" : "")}: "
            + $"{1000 * t:0} ms/step = {tokens / t:0} tok/s; matmul rate {rate / 1e9:0.0} GFLOP/s; MFU {100 * mfu:0.0}%; peak memory {Measure.PeakRssMb()} MB");
        var result = new JsonObject
        {
            ["preset"] = preset, ["dtype"] = dtypeName, ["seq"] = seq, ["batch"] = batch, ["gradient_checkpointing"] = ckpt,
            ["step_ms"] = Math.Round(t * 1000, 1), ["tokens_per_s"] = Math.Round(tokens / t, 1),
            ["matmul_gflops"] = Math.Round(rate / 1e9, 1), ["mfu"] = Math.Round(mfu, 3), ["peak_rss_mb"] = Measure.PeakRssMb(),
        };
        double other = best.Total - best.Forward - best.Backward - best.Optimizer;
        Console.WriteLine($"  phases of the best step: forward + loss {1000 * best.Forward:0} ms ({100 * best.Forward / best.Total:0}%), backward {1000 * best.Backward:0} ms ({100 * best.Backward / best.Total:0}%), "
            + $"optimizer {1000 * best.Optimizer:0} ms ({100 * best.Optimizer / best.Total:0}%), other (freeing the step's tensors) {1000 * other:0} ms ({100 * other / best.Total:0}%); target MFU ≥ 35%");
        result["phase_ms"] = new JsonObject
        {
            ["forward"] = Math.Round(1000 * best.Forward, 1), ["backward"] = Math.Round(1000 * best.Backward, 1),
            ["optimizer"] = Math.Round(1000 * best.Optimizer, 1), ["other"] = Math.Round(1000 * other, 1),
        };
        result["target_mfu_ge_0.35"] = mfu >= 0.35;
        Console.WriteLine($"  → {BenchUtil.WriteResult(ckpt ? "train-throughput-checkpointing" : "train-throughput", result)}");
        return 0;
    }
}
