using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.IO;
using Compact.Util;
using TorchSharp;
using TorchSharp.Modules;

using static TorchSharp.torch;

namespace Compact.Training;

public sealed record OptimizerOptions
{
    public double Lr { get; init; } = 2e-4;
    public double WeightDecay { get; init; } = 0.01;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Cosine;
    public int WarmupSteps { get; init; }
    public double MinLrRatio { get; init; }
    /// <summary>Clip the global gradient norm to this value (0 disables clipping).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
}

public sealed record EngineOptions
{
    public required string OutDir { get; init; }
    public int MicroBatch { get; init; } = 1;
    /// <summary>Micro-batches packed by tokens instead of MicroBatch items (DataOrder; the recipe gives ItemTokens).</summary>
    public int? MaxTokensPerBatch { get; init; }
    public int GradAccum { get; init; } = 1;
    public int? Epochs { get; init; }
    public int? MaxSteps { get; init; }
    public long Seed { get; init; }
    public bool Shuffle { get; init; } = true;
    /// <summary>Save a checkpoint every N optimizer steps (0: only at the end).</summary>
    public int SaveEvery { get; init; }
    public int KeepLast { get; init; } = 2;
    public bool Resume { get; init; }
    public OptimizerOptions Optim { get; init; } = new();
    /// <summary>Stop after this many steps of this process (the run continues with --resume). Tests use it to
    /// simulate an interruption at an exact step.</summary>
    public int? StopAfter { get; init; }
    /// <summary>Called after every optimizer step (tests use it to watch live tensors).</summary>
    public Action<int>? OnStep { get; init; }
    /// <summary>Draws loss.png after the run (null: no chart).</summary>
    public ILineCharts? Charts { get; init; }
    /// <summary>Name of the progress bar.</summary>
    public string Title { get; init; } = "train";
}

/// <summary>What a recipe's forward pass returns for one micro-batch: its loss (a mean over the micro-batch), the
/// loss's named parts for logging, the number of target tokens (the micro-batch's weight in the step), and optional
/// per-question records logged with the step (COMPACT's scores and weights).</summary>
public sealed record MicroResult(Tensor Loss, IReadOnlyDictionary<string, double> Parts, long Tokens, IReadOnlyList<QuestionRecord>? Items = null);

/// <summary>A training mode on the engine: owns the model and data, computes losses, saves its trainable state.</summary>
public interface ITrainRecipe
{
    int ItemCount { get; }
    /// <summary>Tokens of each item, for micro-batches under a token budget; null where the recipe has none.</summary>
    IReadOnlyList<int>? ItemTokens => null;
    IReadOnlyList<Parameter> TrainableParameters { get; }
    MicroResult Forward(int[] items);
    void SaveWeights(string dir);
    void LoadWeights(string dir);
    /// <summary>Extra per-run state to save with checkpoints (e.g. the dropout stream position).</summary>
    JsonObject SaveState();
    void LoadState(JsonObject state);
}

public sealed record TrainSummary(int Steps, int TotalSteps, double FinalLoss, double Seconds, double TokensPerSecond, string? Checkpoint, bool Stopped);

/// <summary>The optimisation loop shared by every recipe: AdamW, warm-up + schedule, gradient accumulation (each
/// micro-batch weighted by its share of the step's target tokens), clipping, NaN and out-of-memory guards, JSONL + TensorBoard metrics, a loss-curve PNG, atomic
/// checkpoints (weights, optimizer, schedule position, data position, dropout RNG) every N steps with the
/// last K kept, exact resume, and a checkpoint on cancellation (Ctrl-C).</summary>
public sealed class Engine
{
    public const string MetricsFile = "metrics.jsonl";
    public const string RunConfigFile = "run_config.json";
    public const string CheckpointsDir = "checkpoints";
    const string StateFile = "trainer_state.json";
    const string OptimizerFile = "optimizer.bin";

    /// <summary>Runs with a flat configuration object (<see cref="JsonRunConfig"/>).</summary>
    public static TrainSummary Run(ITrainRecipe recipe, EngineOptions o, JsonObject runConfig, TextWriter log, IProgressReporter progress,
        CancellationToken ct = default) => Run(recipe, o, new JsonRunConfig(runConfig), log, progress, ct);

    /// <summary>Trains the recipe; saves <paramref name="config"/> as run_config.json and its identity as
    /// run_identity.json, and refuses to resume a run whose identity differs outside the config's
    /// <see cref="IRunConfig.MayDifferOnResume"/>.</summary>
    public static TrainSummary Run(ITrainRecipe recipe, EngineOptions o, IRunConfig config, TextWriter log, IProgressReporter progress,
        CancellationToken ct = default)
    {
        var runConfig = config.ToJson();
        if (o.GradAccum < 1) throw new CompactException($"--grad-accum must be at least 1 (got {o.GradAccum}).");
        if (o.MicroBatch < 1) throw new CompactException($"--batch-size must be at least 1 (got {o.MicroBatch}).");
        Directory.CreateDirectory(o.OutDir);
        var order = DataOrder.For(recipe, o);
        int stepsPerEpoch = Math.Max(1, (order.MicroBatchesPerEpoch + o.GradAccum - 1) / o.GradAccum);
        int total = o.MaxSteps ?? (o.Epochs ?? 1) * stepsPerEpoch;
        if (total < 1) throw new CompactException("nothing to train: --max-steps and --epochs give 0 steps.");
        var schedule = new LrSchedule(o.Optim.Schedule, o.Optim.Lr, o.Optim.WarmupSteps, total, o.Optim.MinLrRatio);

        var ckptRoot = Path.Combine(o.OutDir, CheckpointsDir);
        RemoveStaleTemporaries(ckptRoot);
        var latest = LatestCheckpoint(ckptRoot);
        if (latest is not null && !o.Resume)
            throw new CompactException($"{o.OutDir} already holds a run (checkpoint {Path.GetFileName(latest)}); pass --resume to continue it, or choose another --out.");
        var identity = RunIdentity.Compute(runConfig, config.MayDifferOnResume);
        CheckResumeConfig(o, runConfig, identity, latest, config.MayDifferOnResume);
        if (latest is not null) latest = VerifiedCheckpoint(ckptRoot, log);
        AtomicFile.WriteAllText(Path.Combine(o.OutDir, RunConfigFile), runConfig.ToJsonString(Compact.Util.Jsonl.Indented));
        AtomicFile.WriteAllText(Path.Combine(o.OutDir, RunIdentity.FileName), identity.ToJsonString(Compact.Util.Jsonl.Indented));
        // Metrics describe exactly the steps the weights went through: cut back to the checkpoint on resume, started
        // afresh when there is none (a run killed before its first checkpoint leaves lines no weights remember).
        var metricsPath = Path.Combine(o.OutDir, MetricsFile);
        if (latest is null) { DeleteIfExists(metricsPath); DeleteIfExists(Path.Combine(o.OutDir, "loss.png")); }

        var trainable = recipe.TrainableParameters;
        if (trainable.Count == 0) throw new CompactException("the model has no trainable parameters.");
        using var opt = new AdamW(trainable, o.Optim.Lr, o.Optim.Beta1, o.Optim.Beta2, o.Optim.Eps, o.Optim.WeightDecay);

        int startStep = 0;
        double elapsedBefore = 0;
        long tokensBefore = 0;
        if (latest is not null)
        {
            var st = ReadState(latest);
            startStep = st["step"]!.GetValue<int>();
            elapsedBefore = st["elapsed_s"]?.GetValue<double>() ?? 0;
            tokensBefore = st["tokens"]?.GetValue<long>() ?? 0;
            recipe.LoadWeights(latest);
            using (var fs = File.OpenRead(Path.Combine(latest, OptimizerFile)))
            using (var br = new BinaryReader(fs)) opt.load_state_dict(br);
            recipe.LoadState(st["recipe"]?.AsObject() ?? new JsonObject());
            TruncateMetrics(Path.Combine(o.OutDir, MetricsFile), startStep);
            log.WriteLine($"Resuming {o.OutDir} from step {startStep} of {total}.");
            if (startStep >= total)
                return new TrainSummary(startStep, total, double.NaN, elapsedBefore, 0, latest, false);
        }

        using var metrics = new JsonlWriter(metricsPath);
        using var self = Process.GetCurrentProcess();
        var tbDir = Path.Combine(o.OutDir, "tb");
        if (Directory.Exists(tbDir)) Directory.Delete(tbDir, true);
        using var tb = new TensorBoardWriter(tbDir);
        if (latest is not null) ReplayTensorBoard(tb, metricsPath);
        var sw = Stopwatch.StartNew();
        long tokens = tokensBefore;
        double lastLoss = double.NaN;
        string? lastCkpt = latest;
        int step = startStep;
        bool stopped = false;
        int stepsThisProcess = 0;

        progress.Run(o.Title, total, task =>
        {
            task.Set(startStep);
            while (step < total)
            {
                if (ct.IsCancellationRequested || (o.StopAfter is { } sa && stepsThisProcess >= sa)) { stopped = true; break; }
                int s = step + 1;
                var stepWatch = Stopwatch.StartNew();
                var parts = new Dictionary<string, double>();
                var items = new List<QuestionRecord>();
                long stepTokens = 0;
                double stepLoss = 0;
                int epoch = 0;
                try
                {
                    for (int m = 0; m < o.GradAccum; m++)
                    {
                        long k = (long)step * o.GradAccum + m;
                        var (e, batch) = order.At(k);
                        epoch = e;
                        using var scope = torch.NewDisposeScope();
                        var r = recipe.Forward(batch);
                        double lv = r.Loss.to(ScalarType.Float32).item<float>();
                        if (!double.IsFinite(lv))
                            throw new CompactException($"loss became {lv} at step {s} (epoch {e + 1}); training stopped before applying it. "
                                + (lastCkpt is null ? "No checkpoint was saved yet." : $"The last good checkpoint is {lastCkpt}.")
                                + " Lower --lr or check the data, then run again (with --resume to continue from the checkpoint).");
                        // Token-weighted accumulation: the step's loss is Σ_m n_m L_m / Σ_m n_m over its micro-batches m
                        // (n_m target tokens, L_m the micro-batch's mean loss). The gradient of n_m L_m accumulates here;
                        // the division by Σ n_m, known after the last micro-batch, is applied to the gradients below.
                        r.Loss.mul(r.Tokens).backward();
                        stepLoss += lv * r.Tokens;
                        stepTokens += r.Tokens;
                        foreach (var (key, v) in r.Parts) parts[key] = parts.GetValueOrDefault(key) + v * r.Tokens;
                        if (r.Items is not null) items.AddRange(r.Items);
                    }
                    if (stepTokens > 0)
                    {
                        ScaleGradients(trainable, 1.0 / stepTokens);
                        stepLoss /= stepTokens;
                        foreach (var key in parts.Keys.ToList()) parts[key] /= stepTokens;
                    }
                }
                catch (ExternalException ex) when (IsOutOfMemory(ex))
                {
                    throw new CompactException($"out of memory at step {s}: {FirstLine(ex.Message)}. "
                        + (lastCkpt is null ? "" : $"The last good checkpoint is {lastCkpt}. ")
                        + "Lower --batch-size or --max-seq-len, or enable --gradient-checkpointing.", ex);
                }

                double gradNorm = GradNorm(trainable, o.Optim.MaxGradNorm);
                double lr = schedule.At(s);
                foreach (var g in opt.ParamGroups) g.LearningRate = lr;
                opt.step();
                opt.zero_grad();
                step = s;
                stepsThisProcess++;
                tokens += stepTokens;
                lastLoss = stepLoss;

                double elapsed = elapsedBefore + sw.Elapsed.TotalSeconds;
                double tps = stepTokens / Math.Max(1e-9, stepWatch.Elapsed.TotalSeconds);
                metrics.WriteLine(new StepRecord
                {
                    Step = s, Epoch = epoch + 1, Loss = Round(stepLoss), Lr = lr, GradNorm = Round(gradNorm), Tokens = stepTokens,
                    TokensPerSecond = Math.Round(tps, 1), ElapsedSeconds = Math.Round(elapsed, 2), MemoryMb = Memory(self),
                    Extra = StepRecord.Parts(parts.Select(kv => KeyValuePair.Create(kv.Key, Round(kv.Value)))),
                    AlphaMean = items.Count > 0 ? QuestionRecord.MeanAlpha(items) : null,
                    Items = items.Count > 0 ? items : null,
                }.ToLine());
                tb.AddScalar("train/loss", stepLoss, s);
                tb.AddScalar("train/lr", lr, s);
                tb.AddScalar("train/grad_norm", gradNorm, s);
                tb.AddScalar("train/tokens_per_s", tps, s);
                foreach (var (key, v) in parts) tb.AddScalar($"train/{key}", v, s);
                task.Set(s, $"loss {stepLoss:0.0000}  {tps:0} tok/s");

                if ((o.SaveEvery > 0 && s % o.SaveEvery == 0) || s == total)
                    lastCkpt = SaveCheckpoint(recipe, opt, ckptRoot, s, elapsed, tokens, o.KeepLast);
                o.OnStep?.Invoke(s);
            }
        });
        if (stopped && step > startStep && (lastCkpt is null || !lastCkpt.EndsWith($"step-{step:D6}", StringComparison.Ordinal)))
            lastCkpt = SaveCheckpoint(recipe, opt, ckptRoot, step, elapsedBefore + sw.Elapsed.TotalSeconds, tokens, o.KeepLast);
        if (o.Charts is not null) WriteLossPlot(o.OutDir, o.Charts);
        double secs = sw.Elapsed.TotalSeconds;
        return new TrainSummary(step, total, lastLoss, elapsedBefore + secs, (tokens - tokensBefore) / Math.Max(1e-9, secs), lastCkpt, stopped);
    }

    static long Memory(Process self) { self.Refresh(); return self.WorkingSet64 >> 20; }

    static double Round(double v) => double.IsFinite(v) ? Math.Round(v, 6) : v;

    static void ScaleGradients(IReadOnlyList<Parameter> ps, double factor)
    {
        using var noGrad = torch.no_grad();
        foreach (var p in ps) p.grad?.mul_(factor);
    }

    static bool IsOutOfMemory(Exception ex) =>
        ex.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase) || ex.Message.Contains("can't allocate memory", StringComparison.OrdinalIgnoreCase);

    static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>Global L2 norm of the gradients, clipped to maxNorm when positive.</summary>
    static double GradNorm(IReadOnlyList<Parameter> ps, double maxNorm)
    {
        var withGrad = ps.Where(p => p.grad is not null).ToList();
        if (withGrad.Count == 0) return 0;
        if (maxNorm > 0) return torch.nn.utils.clip_grad_norm_(withGrad, maxNorm);
        using var scope = torch.NewDisposeScope();
        var sq = withGrad.Select(p => p.grad!.to(ScalarType.Float32).pow(2).sum()).Aggregate((a, b) => a.add(b));
        return Math.Sqrt(sq.item<float>());
    }

    static string SaveCheckpoint(ITrainRecipe recipe, OptimizerHelper opt, string root, int step, double elapsed, long tokens, int keepLast)
    {
        Directory.CreateDirectory(root);
        var final = Path.Combine(root, $"step-{step:D6}");
        var tmp = Path.Combine(root, $".tmp-step-{step:D6}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        recipe.SaveWeights(tmp);
        AtomicFile.Write(Path.Combine(tmp, OptimizerFile), s => { using var bw = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true); opt.save_state_dict(bw); });
        var state = new JsonObject { ["step"] = step, ["elapsed_s"] = elapsed, ["tokens"] = tokens, ["recipe"] = recipe.SaveState() };
        AtomicFile.WriteAllText(Path.Combine(tmp, StateFile), state.ToJsonString(Compact.Util.Jsonl.Indented));
        CheckpointManifest.Write(tmp);
        if (Directory.Exists(final)) Directory.Delete(final, true);
        Directory.Move(tmp, final);
        foreach (var old in CompleteCheckpoints(root).SkipLast(Math.Max(1, keepLast))) Directory.Delete(old, true);
        foreach (var stale in Directory.GetDirectories(root, ".tmp-step-*")) { try { Directory.Delete(stale, true); } catch { } }
        return final;
    }

    static IEnumerable<string> CompleteCheckpoints(string root) =>
        Directory.Exists(root)
            ? Directory.GetDirectories(root, "step-*").Where(d => File.Exists(Path.Combine(d, StateFile))).OrderBy(d => d, StringComparer.Ordinal)
            : [];

    public static string? LatestCheckpoint(string root) => CompleteCheckpoints(root).LastOrDefault();

    static void CheckResumeConfig(EngineOptions o, JsonObject runConfig, JsonObject identity, string? latest, IReadOnlySet<string> tolerant)
    {
        if (latest is null) return;
        var idPath = Path.Combine(o.OutDir, RunIdentity.FileName);
        if (File.Exists(idPath))
        {
            JsonObject saved;
            try { saved = JsonNode.Parse(File.ReadAllText(idPath))!.AsObject(); }
            catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException)
            {
                throw new CompactException($"{idPath} is damaged, so the run cannot be checked before resuming; restore it, or start again with another --out.");
            }
            var idDiffs = RunIdentity.Differences(saved, identity, tolerant);
            if (idDiffs.Count > 0)
                throw new CompactException($"cannot resume {o.OutDir}: it was started on different inputs or settings ({string.Join("; ", idDiffs.Take(5))}); "
                    + "resume with the original files and flags, or choose another --out for a new run.");
            return;
        }
        var path = Path.Combine(o.OutDir, RunConfigFile);
        if (!File.Exists(path)) return;
        var before = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var diffs = RunIdentity.Differences(before, runConfig, tolerant);
        if (diffs.Count > 0)
            throw new CompactException($"cannot resume {o.OutDir}: it was started with different settings ({string.Join("; ", diffs.Take(5))}); "
                + "repeat the original flags with --resume, or choose another --out.");
    }

    static JsonObject ReadState(string ckpt)
    {
        var path = Path.Combine(ckpt, StateFile);
        try { return JsonNode.Parse(File.ReadAllText(path))!.AsObject(); }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException)
        {
            throw new CompactException($"{path} is damaged (not the JSON object a checkpoint saves); delete {ckpt} to resume from the checkpoint before it.");
        }
    }

    /// <summary>The newest checkpoint that matches its manifest and whose state parses. A damaged one is renamed to
    /// damaged-step-N (kept for inspection, out of the way of pruning) and the previous one is used, saying so.</summary>
    static string VerifiedCheckpoint(string root, TextWriter log)
    {
        string? firstProblem = null;
        foreach (var c in CompleteCheckpoints(root).Reverse().ToList())
        {
            var problem = CheckpointManifest.Problem(c);
            if (problem is null)
            {
                try { var st = ReadState(c); if (st["step"]?.GetValue<int>() is null) problem = $"{StateFile} has no step"; }
                catch (CompactException) { problem = $"{StateFile} is not valid JSON"; }
                catch (Exception e) when (e is InvalidOperationException or FormatException) { problem = $"{StateFile} has no valid step"; }
            }
            if (problem is null) return c;
            firstProblem ??= $"{Path.GetFileName(c)}: {problem}";
            var aside = Path.Combine(root, "damaged-" + Path.GetFileName(c));
            if (Directory.Exists(aside)) Directory.Delete(aside, true);
            Directory.Move(c, aside);
            log.WriteLine($"Checkpoint {c} is damaged ({problem}); moved it to {aside} and trying the one before it.");
        }
        throw new CompactException($"no intact checkpoint left in {root} ({firstProblem}); start the run again with another --out "
            + "(or remove --resume after deleting the folder).");
    }

    static void RemoveStaleTemporaries(string root)
    {
        if (!Directory.Exists(root)) return;
        foreach (var stale in Directory.GetDirectories(root, ".tmp-step-*"))
            try { Directory.Delete(stale, true); } catch (IOException) { }
    }

    static void DeleteIfExists(string path) { if (File.Exists(path)) File.Delete(path); }

    /// <summary>Writes the kept metrics lines into a fresh TensorBoard log, so the events end at the resumed step.</summary>
    static void ReplayTensorBoard(TensorBoardWriter tb, string metricsPath)
    {
        foreach (var r in StepRecord.ReadAll(metricsPath))
        {
            int s = r.Step;
            if (r.Loss is { } loss) tb.AddScalar("train/loss", loss, s);
            if (r.Lr is { } lr) tb.AddScalar("train/lr", lr, s);
            if (r.GradNorm is { } gn) tb.AddScalar("train/grad_norm", gn, s);
            if (r.TokensPerSecond is { } tps) tb.AddScalar("train/tokens_per_s", tps, s);
            foreach (var (key, v) in r.LossParts) tb.AddScalar($"train/{key}", v, s);
        }
    }

    static void TruncateMetrics(string path, int step)
    {
        if (!File.Exists(path)) return;
        Jsonl.RepairTail(path);
        var keep = File.ReadLines(path).Where(l =>
        {
            try { return JsonNode.Parse(l)?["step"]?.GetValue<int>() <= step; } catch { return false; }
        }).ToList();
        AtomicFile.WriteAllText(path, keep.Count == 0 ? "" : string.Join("\n", keep) + "\n");
    }

    /// <summary>loss.png from metrics.jsonl: total loss and every logged loss part per step.</summary>
    public static void WriteLossPlot(string outDir, ILineCharts charts)
    {
        var path = Path.Combine(outDir, MetricsFile);
        if (!File.Exists(path)) return;
        var series = new Dictionary<string, (List<double> X, List<double> Y)>();
        void Add(string k, double step, double v)
        {
            if (!series.TryGetValue(k, out var sr)) series[k] = sr = (new(), new());
            sr.X.Add(step); sr.Y.Add(v);
        }
        foreach (var r in StepRecord.ReadAll(path))
        {
            if (r.Loss is { } loss) Add("loss", r.Step, loss);
            foreach (var (k, v) in r.LossParts) Add(k, r.Step, v);
        }
        if (series.Count == 0) return;
        charts.Lines(Path.Combine(outDir, "loss.png"), "Training loss", "optimizer step", "loss",
            series.OrderBy(kv => kv.Key == "loss" ? "" : kv.Key).Select(kv => new ChartSeries(kv.Key, kv.Value.X, kv.Value.Y)).ToList());
    }
}
