using System.Globalization;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Compact.Benchmarks;
using Compact.Eval;
using Compact.Generation;
using Compact.Models;
using Compact.Serving;
using Compact.Tokenization;
using Compact.Training;
using Compact.Util;
using TorchSharp;

namespace Compact.Bench;

/// <summary>endpoint-throughput: questions per second of `compact eval --endpoint` against `compact serve` (in this
/// process, on loopback) at --concurrency 1, 4 and 8, next to local evaluation of the same model (batched and one at a
/// time), on the first GSM8K questions with a tiny random model (bytes-only tokenizer, as eval-throughput). Greedy
/// decoding everywhere, so the predictions must agree; the program counts how many do. `compact serve` runs one request
/// at a time (one worker), so concurrency only overlaps the HTTP round trip and prompt handling with generation; the
/// numbers show what the client adds, not what a batching server (vLLM) would gain.
/// Options: --questions 32, --max-new-tokens 32, --concurrency 1,4,8, --batch-size 16, --repeats 2 (best taken),
/// --preset qwen2-small, --threads (default all cores).</summary>
public static class EndpointThroughput
{
    public static int Run(string[] argv)
    {
        var a = new BenchArgs(argv);
        int questions = a.Get("questions", 32), maxNew = a.Get("max-new-tokens", 32), batch = a.Get("batch-size", 16), repeats = a.Get("repeats", 2);
        var levels = a.Get("concurrency", "1,4,8").Split(',').Select(int.Parse).ToList();
        string preset = a.Get("preset", "qwen2-small");
        int threads = a.Get("threads", Environment.ProcessorCount);
        a.RequireAllUsed();
        Devices.ConfigureThreads();
        if (threads != Environment.ProcessorCount) torch.set_num_threads(threads);

        var work = Directory.CreateTempSubdirectory("compact-bench-endpoint-").FullName;
        try
        {
            var modelDir = Path.Combine(work, "model");
            var cfg = WriteTinyModel(modelDir, preset);
            using var model = LoadedModel.Load(modelDir);
            var gsm8k = Path.Combine(BenchUtil.SharedBenchmarks(), "gsm8k_test.jsonl");
            var items = BenchmarkLoader.Load("gsm8k", gsm8k).Take(questions).ToList();
            var bench = new EvalBench("gsm8k", gsm8k, items, [], items.Count);
            var server = new OpenAiServer(new ModelBackend(model, "tiny"), new ServerOptions { Port = 0, MaxQueue = 64 });
            server.StartAsync().GetAwaiter().GetResult();
            try
            {
                var url = new Uri(server.BaseAddress, "v1").ToString();
                Console.WriteLine($"endpoint-throughput: {preset} ({cfg.ParameterCount():N0} parameters) on cpu, {torch.get_num_threads()} threads, "
                    + $"{items.Count} GSM8K questions, max-new-tokens {maxNew}, best of {repeats}; compact serve at {url} in this process");
                EvalModel Local(int b) => new($"local{b}", () => new ModelAnswerer(model, maxNew, ownsModel: false));
                EvalModel Remote(int c) => new($"served{c}", () => new EndpointAnswerer(new EndpointSpec($"served{c}", url, "tiny", Concurrency: c), maxNew));

                // Warm-up: JIT, allocator, the HTTP connection.
                Time(Local(batch), bench with { Items = items.Take(4).ToList() }, batch, Path.Combine(work, "warm-l"));
                Time(Remote(2), bench with { Items = items.Take(4).ToList() }, 1, Path.Combine(work, "warm-r"));

                var rows = new List<(string Mode, int Level, double Seconds, string Dir)>();
                foreach (var (mode, level) in new[] { ("local", batch), ("local", 1) }.Concat(levels.Select(c => ("endpoint", c))))
                {
                    var times = new List<double>();
                    string dir = "";
                    for (int r = 0; r < repeats; r++)
                    {
                        dir = Path.Combine(work, $"{mode}{level}-{r}");
                        times.Add(mode == "local" ? Time(Local(level), bench, level, dir) : Time(Remote(level), bench, 1, dir));
                    }
                    rows.Add((mode, level, times.Min(), dir));
                    var label = mode == "local" ? $"local, batch {level}" : $"compact serve, concurrency {level}";
                    Console.WriteLine($"  {label,-30} {items.Count / times.Min(),7:0.00} questions/s  (runs {string.Join(", ", times.Select(t => t.ToString("0.00", CultureInfo.InvariantCulture)))} s)");
                }
                var reference = Predictions(rows[0].Dir, rows[0].Mode + rows[0].Level);
                var results = new JsonArray();
                foreach (var (mode, level, secs, dir) in rows)
                {
                    var p = Predictions(dir, mode == "local" ? $"local{level}" : $"served{level}");
                    int same = reference.Count(kv => p.TryGetValue(kv.Key, out var t) && t == kv.Value);
                    results.Add(new JsonObject
                    {
                        ["mode"] = mode, [mode == "local" ? "batch_size" : "concurrency"] = level,
                        ["seconds"] = Math.Round(secs, 3), ["questions_per_s"] = Math.Round(items.Count / secs, 3),
                        ["predictions_identical_to_local_batched"] = same,
                    });
                }
                Console.WriteLine($"  predictions identical to local batched: {string.Join(", ", results.Select(r => r!["predictions_identical_to_local_batched"]!.GetValue<int>()))} of {items.Count}");
                var path = BenchUtil.WriteResult("endpoint-throughput", new JsonObject
                {
                    ["benchmark"] = "endpoint-throughput",
                    ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                    ["preset"] = preset,
                    ["parameters"] = cfg.ParameterCount(),
                    ["threads"] = torch.get_num_threads(),
                    ["processor_count"] = Environment.ProcessorCount,
                    ["questions"] = items.Count,
                    ["max_new_tokens"] = maxNew,
                    ["repeats"] = repeats,
                    ["timing"] = "best of the repeats, seconds for the whole evaluation loop (prompting, generation or HTTP, checking, JSONL)",
                    ["note"] = "compact serve generates one request at a time, so client concurrency only overlaps HTTP and prompting with generation; "
                        + "the server and the client share this machine's cores",
                    ["runs"] = results,
                });
                Console.WriteLine($"  → {path}");
            }
            finally { server.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
            return 0;
        }
        finally { try { Directory.Delete(work, true); } catch { /* best effort */ } }
    }

    static double Time(EvalModel m, EvalBench bench, int batch, string outDir)
    {
        var sw = Stopwatch.StartNew();
        EvalRunner.Run([m], [bench], new EvalOptions { BatchSize = batch }, outDir, TextWriter.Null, ProgressHost.Silent);
        return sw.Elapsed.TotalSeconds;
    }

    static Dictionary<string, string> Predictions(string outDir, string model) =>
        Jsonl.Read(EvalRunner.PredictionsPath(outDir, model, "gsm8k")).ToDictionary(x => x.Obj["id"]!.GetValue<string>(), x => x.Obj["prediction"]!.GetValue<string>());

    /// <summary>A bytes-only byte-level tokenizer (ChatML special tokens) and a randomly initialised model of the preset.</summary>
    static ModelConfig WriteTinyModel(string dir, string preset)
    {
        Directory.CreateDirectory(dir);
        ByteLevelBpeTrainer.BytesOnly().Save(dir);
        var tok = Student.LoadTokenizer(dir);
        var cfg = Presets.Get(preset).Make(tok.VocabSize) with { BosTokenId = tok.BosId, EosTokenIds = tok.EosId is { } e ? [e] : [], PadTokenId = tok.PadId };
        using var model = new CausalLM(cfg, torch.ScalarType.Float32, torch.CPU);
        model.InitializeRandom(1);
        model.Save(dir);
        return cfg;
    }
}
