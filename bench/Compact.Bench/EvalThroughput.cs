using System.Globalization;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Compact.Benchmarks;
using Compact.Eval;
using Compact.Generation;
using Compact.Models;
using Compact.Tokenization;
using Compact.Training;
using Compact.Util;
using TorchSharp;

namespace Compact.Bench;

/// <summary>eval-throughput: the evaluation loop of `compact eval` (EvalRunner + ModelAnswerer: chat prompt, greedy
/// KV-cached generation, answer checking, JSONL writing) on the first GSM8K questions with a tiny random model
/// (qwen2-small, bytes-only tokenizer), batched vs one question at a time. A random model rarely emits its end-of-turn
/// token, so nearly every answer runs to --max-new-tokens and both modes do the same decoding work. With bytes-only
/// tokens the prompts are long (~350 tokens) next to 32 new ones, so prefill dominates there; on CPU a batched prefill
/// of this attention-bound model used to be slower per token than one prompt at a time (measured once: 16×400 tokens
/// in one padded forward ≈ 550–770 ms, as 16 single forwards ≈ 270 ms), so generation now prefills prompts apart
/// (equal lengths together) and batches only the decoding. Target: batched ≥ 2× at both lengths.
/// Options:
/// --questions 32, --max-new-tokens 32,128 (one measurement each), --batch-size 16, --repeats 3 (best taken),
/// --preset qwen2-small, --device cpu, --threads (CPU threads; default all cores: on a shared machine 1 is steadier).</summary>
public static class EvalThroughput
{
    public static int Run(string[] argv)
    {
        var a = new BenchArgs(argv);
        int questions = a.Get("questions", 32), batch = a.Get("batch-size", 16), repeats = a.Get("repeats", 3);
        var lengths = a.Get("max-new-tokens", "32,128").Split(',').Select(int.Parse).ToList();
        string preset = a.Get("preset", "qwen2-small"), device = a.Get("device", "cpu");
        int threads = a.Get("threads", Environment.ProcessorCount);
        a.RequireAllUsed();
        Devices.ConfigureThreads();                                   // as `compact eval` does (threads, allocator)
        if (threads != Environment.ProcessorCount) torch.set_num_threads(threads);

        var work = Directory.CreateTempSubdirectory("compact-bench-eval-").FullName;
        try
        {
            var modelDir = Path.Combine(work, "model");
            var cfg = WriteTinyModel(modelDir, preset);
            using var model = LoadedModel.Load(modelDir, device: device);
            var gsm8k = Path.Combine(BenchUtil.SharedBenchmarks(), "gsm8k_test.jsonl");
            var items = BenchmarkLoader.Load("gsm8k", gsm8k).Take(questions).ToList();
            var bench = new EvalBench("gsm8k", gsm8k, items, [], items.Count);
            var promptTokens = items.Select(i => EvalPrompts.Build(i, null, []))
                .Select(q => model.Chat.EncodePrompt(q.System, q.User).Count).ToList();
            Console.WriteLine($"eval-throughput: {preset} ({cfg.ParameterCount():N0} parameters, vocabulary {cfg.VocabSize}) on {device}, "
                + $"{torch.get_num_threads()} threads; {items.Count} GSM8K questions (prompts {promptTokens.Min()}–{promptTokens.Max()} tokens, "
                + $"mean {promptTokens.Average():0}); batch {batch} vs 1; best of {repeats}");

            // Warm-up: JIT and allocator, both code paths.
            Time(model, bench with { Items = items.Take(4).ToList() }, 2, 4, Path.Combine(work, "warm"));
            Time(model, bench with { Items = items.Take(4).ToList() }, 1, 4, Path.Combine(work, "warm1"));

            var runs = new JsonArray();
            foreach (var maxNew in lengths)
            {
                var batched = new List<double>();
                var single = new List<double>();
                string? batchedDir = null, singleDir = null;
                for (int r = 0; r < repeats; r++)
                {
                    batchedDir = Path.Combine(work, $"b{maxNew}-{r}");
                    singleDir = Path.Combine(work, $"s{maxNew}-{r}");
                    batched.Add(Time(model, bench, batch, maxNew, batchedDir));
                    single.Add(Time(model, bench, 1, maxNew, singleDir));
                }
                double tb = batched.Min(), ts = single.Min();
                var pb = Predictions(batchedDir!);
                var ps = Predictions(singleDir!);
                int identical = pb.Count(kv => ps.TryGetValue(kv.Key, out var t) && t == kv.Value);
                double qb = items.Count / tb, qs = items.Count / ts;
                Console.WriteLine($"  max-new-tokens {maxNew}:");
                Console.WriteLine($"    batched (batch {batch}): {qb,7:0.00} questions/s  ({tb:0.00} s; runs {string.Join(", ", batched.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture)))})");
                Console.WriteLine($"    one at a time:       {qs,7:0.00} questions/s  ({ts:0.00} s; runs {string.Join(", ", single.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture)))})");
                Console.WriteLine($"    speed-up {qb / qs:0.00}x; {identical}/{items.Count} predictions identical in both modes");
                runs.Add(new JsonObject
                {
                    ["max_new_tokens"] = maxNew,
                    ["batched"] = new JsonObject { ["batch_size"] = batch, ["seconds"] = Math.Round(tb, 3), ["questions_per_s"] = Math.Round(qb, 3) },
                    ["one_at_a_time"] = new JsonObject { ["batch_size"] = 1, ["seconds"] = Math.Round(ts, 3), ["questions_per_s"] = Math.Round(qs, 3) },
                    ["speedup"] = Math.Round(qb / qs, 3),
                    ["identical_predictions"] = identical,
                });
            }

            var path = BenchUtil.WriteResult("eval-throughput", new JsonObject
            {
                ["benchmark"] = "eval-throughput",
                ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                ["preset"] = preset,
                ["parameters"] = cfg.ParameterCount(),
                ["vocab_size"] = cfg.VocabSize,
                ["device"] = device,
                ["threads"] = torch.get_num_threads(),
                ["processor_count"] = Environment.ProcessorCount,
                ["questions"] = items.Count,
                ["mean_prompt_tokens"] = Math.Round(promptTokens.Average(), 1),
                ["repeats"] = repeats,
                ["timing"] = "best of the repeats, seconds for the whole evaluation loop (prompting, generation, checking, JSONL)",
                ["note"] = "prefill of the ~350-token prompts dominates at 32 new tokens and is slower batched on CPU; batching pays in decoding",
                ["runs"] = runs,
            });
            Console.WriteLine($"  → {path}");
            return 0;
        }
        finally { try { Directory.Delete(work, true); } catch { /* best effort */ } }
    }

    /// <summary>Seconds for one full evaluation of the bench into a fresh output folder.</summary>
    static double Time(LoadedModel model, EvalBench bench, int batch, int maxNew, string outDir)
    {
        var sw = Stopwatch.StartNew();
        EvalRunner.Run([new EvalModel("m", () => new ModelAnswerer(model, maxNew, ownsModel: false))], [bench],
            new EvalOptions { BatchSize = batch }, outDir, TextWriter.Null, ProgressHost.Silent);
        return sw.Elapsed.TotalSeconds;
    }

    static Dictionary<string, string> Predictions(string outDir) =>
        Jsonl.Read(EvalRunner.PredictionsPath(outDir, "m", "gsm8k")).ToDictionary(x => x.Obj["id"]!.GetValue<string>(), x => x.Obj["prediction"]!.GetValue<string>());

    /// <summary>What `compact init --size small` writes: a bytes-only byte-level tokenizer (ChatML special tokens) and
    /// a randomly initialised model of the preset.</summary>
    static ModelConfig WriteTinyModel(string dir, string preset)
    {
        Directory.CreateDirectory(dir);
        ByteLevelBpeTrainer.BytesOnly().Save(dir);
        var tok = Student.LoadTokenizer(dir);
        var cfg = Presets.Get(preset).Make(tok.VocabSize) with
        {
            BosTokenId = tok.BosId,
            EosTokenIds = tok.EosId is { } e ? [e] : [],
            PadTokenId = tok.PadId,
        };
        using var model = new CausalLM(cfg, torch.ScalarType.Float32, torch.CPU);
        model.InitializeRandom(1);
        model.Save(dir);
        return cfg;
    }
}
