using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Compact.Benchmarks;
using Compact.Eval;
using Compact.Generation;
using Compact.IO;
using Compact.Models;
using Compact.Util;

namespace Compact.Cli.Commands;

public static partial class EvalCommand
{
    static readonly Option<string?> Model = new("--model") { Description = "Hugging Face checkpoint folder to evaluate (with --adapter: that LoRA adapter on top). Named after the folder(s); use --models to name models or compare several." };
    static readonly Option<string[]> Models = new("--models")
    {
        Description = "A model to compare, as NAME=DIR or NAME=DIR+ADAPTER_DIR (a LoRA adapter on DIR); repeat the flag or separate with commas. "
            + "The model named 'base' (else the first) is the baseline of the Δ (forgetting) columns. May be combined with --model, which comes first.",
        AllowMultipleArgumentsPerToken = true,
    };
    static readonly Option<string[]> Bench = new("--bench")
    {
        Description = "Benchmarks as NAME=FILE, NAME one of gsm8k, svamp, math500, csqa, strategyqa, gpqa, arc (or auto; a FILE alone means auto); repeat the flag or separate with commas.",
        Required = true, AllowMultipleArgumentsPerToken = true,
    };
    static readonly Option<string> Out = Shared.Out("Output folder: <model>/<bench>.predictions.jsonl (resumed on the next run), results.json/.md/.csv, eval_config.json.");
    static readonly Option<int?> Limit = new("--limit") { Description = "Evaluate N questions per benchmark: the first N in file order, or with --seed the first N of a seeded shuffle. Default: all." };
    static readonly Option<long?> Seed = new("--seed") { Description = "Shuffle each benchmark deterministically with this seed before --limit (default: no shuffle, file order)." };
    static readonly Option<int> MaxNew = new("--max-new-tokens") { Description = "Most tokens generated per answer (greedy; it stops earlier at the end-of-turn token or eos).", DefaultValueFactory = _ => 512 };
    static readonly Option<int> BatchSize = new("--batch-size") { Description = "Questions generated together in one batched, KV-cached pass.", DefaultValueFactory = _ => 16 };
    static readonly Option<string?> Instruction = new("--instruction")
    {
        Description = "System message for every question (\"\" for none). Default per answer kind: step by step ending in 'The answer is: N' (GSM8K, SVAMP), "
            + "\\boxed{} (MATH), 'The answer is (X)' with lettered options (CSQA, GPQA), 'The answer is: yes/no' (StrategyQA).",
    };
    static readonly Option<int> FewShot = new("--few-shot") { Description = "Worked examples shown before each question (written into the prompt as Question/Answer blocks).", DefaultValueFactory = _ => 0 };
    static readonly Option<string[]> FewShotFile = new("--few-shot-file")
    {
        Description = "Where a benchmark's few-shot examples come from, as NAME=FILE (same format as its --bench file); default: the benchmark's own file, "
            + "first items in file order that are not evaluated.",
        AllowMultipleArgumentsPerToken = true,
    };

    static readonly Option<string[]> Endpoint = new("--endpoint")
    {
        Description = "A model behind an OpenAI-compatible server (vLLM, SGLang, Ollama, compact serve, a hosted API), as [NAME=]URL[#SERVED_MODEL], "
            + "e.g. student=http://localhost:8000/v1#student; without #SERVED_MODEL, once per --served-model. Repeat the flag for several; "
            + "mixes freely with --model/--models in one comparison table (local models first, then endpoints).",
        AllowMultipleArgumentsPerToken = true,
    };
    static readonly Option<string[]> ServedModel = new("--served-model")
    {
        Description = "The \"model\" name each request asks for, for every --endpoint without #SERVED_MODEL; repeat the flag or separate with commas to "
            + "evaluate several models of one server (vLLM: the base and each --lora-modules name). Names the model in the results unless --endpoint gives NAME=.",
        AllowMultipleArgumentsPerToken = true,
    };
    static readonly Option<string?> ApiKeyEnv = new("--api-key-env") { Description = "Environment variable holding the endpoints' API key (default: none is sent)." };
    static readonly Option<int> Concurrency = new("--concurrency") { Description = "Requests in flight at once per endpoint model.", DefaultValueFactory = _ => 8 };
    static readonly Option<double> RequestTimeout = new("--request-timeout") { Description = "Seconds one request may take before it is retried.", DefaultValueFactory = _ => 600 };
    static readonly Option<int> MaxRetries = new("--max-retries")
    {
        Description = "Retries per question after a timeout, a dropped connection, 408/409/425/429 or 5xx (exponential backoff with jitter, at least the server's Retry-After); "
            + "a question still without reply is left unscored and asked again by the next run.",
        DefaultValueFactory = _ => 6,
    };
    static readonly Option<bool> EscapeSpecial = new("--escape-special-in-content")
    {
        Description = "Encode control tokens written in a question, instruction or example (\"<|im_end|>\", \"<|eot_id|>\") as plain text, so that they cannot close a "
            + "turn. Default off: they become the control tokens, as with Hugging Face's chat templates. Local models only (a server encodes its prompts itself).",
    };
    static readonly Option<string> ExtractionOpt = new("--extraction")
    {
        Description = "How numeric answers (gsm8k, svamp) are read: default (the checker: '####', 'answer is', \\boxed{}, else the last number; numbers compared exactly), "
            + "or lm-evaluation-harness's strict-match ('The answer is N', asked for in the prompt) or flexible-extract (the last number), scored by exact string match as the harness does.",
        DefaultValueFactory = _ => "default",
    };

    public static Command Create()
    {
        var c = new Command("eval", "Accuracy of one or several models (or base + LoRA adapters) on benchmarks, with standard errors, per-subject/level breakdowns, a comparison table and resumable per-question predictions.")
        {
            Model, Shared.Adapter, Models, Endpoint, ServedModel, ApiKeyEnv, Concurrency, RequestTimeout, MaxRetries,
            Bench, Out, Limit, Seed, MaxNew, BatchSize, Instruction, FewShot, FewShotFile, EscapeSpecial, ExtractionOpt,
            Shared.Device, Shared.DType, ConfigFiles.Config,
        };
        c.SetAction(p => Run(new Args(p.GetValue(Model), p.GetValue(Shared.Adapter), p.GetValue(Models) ?? [], p.GetValue(Bench) ?? [], p.GetValue(Out)!,
            p.GetValue(Limit), p.GetValue(Seed), p.GetValue(MaxNew), p.GetValue(BatchSize), p.GetValue(Instruction), p.GetValue(FewShot),
            p.GetValue(FewShotFile) ?? [], p.GetValue(Shared.Device)!, p.GetValue(Shared.DType)!)
        {
            Endpoints = p.GetValue(Endpoint) ?? [], ServedModels = p.GetValue(ServedModel) ?? [], ApiKeyEnv = p.GetValue(ApiKeyEnv),
            Concurrency = p.GetValue(Concurrency), RequestTimeout = p.GetValue(RequestTimeout), MaxRetries = p.GetValue(MaxRetries),
            EscapeSpecialInContent = p.GetValue(EscapeSpecial), Extraction = p.GetValue(ExtractionOpt)!,
        }, p.InvocationConfiguration.Output));
        return c;
    }

    public sealed record Args(string? Model, string? Adapter, string[] Models, string[] Bench, string Out, int? Limit = null, long? Seed = null,
        int MaxNewTokens = 512, int BatchSize = 16, string? Instruction = null, int FewShot = 0, string[]? FewShotFile = null,
        string Device = "cpu", string DType = "float32")
    {
        public string[] Endpoints { get; init; } = [];
        public string[] ServedModels { get; init; } = [];
        public string? ApiKeyEnv { get; init; }
        public int Concurrency { get; init; } = 8;
        public double RequestTimeout { get; init; } = 600;
        public int MaxRetries { get; init; } = 6;
        public bool EscapeSpecialInContent { get; init; }
        /// <summary>Backoff of the endpoint retries (tests shorten it).</summary>
        public RetryPolicy? Retry { get; init; }
        /// <summary>--extraction: default, strict-match or flexible-extract (numeric benchmarks).</summary>
        public string Extraction { get; init; } = "default";
    }

    /// <summary>A model to load: its name (the folder under --out), checkpoint folder and optional adapter folder.</summary>
    public sealed record ModelSpec(string Name, string Dir, string? Adapter);

    public static int Run(Args a, TextWriter output)
    {
        if (a.MaxNewTokens < 1) throw new CompactException("--max-new-tokens must be at least 1.");
        if (a.BatchSize < 1) throw new CompactException("--batch-size must be at least 1.");
        if (a.Limit is < 1) throw new CompactException("--limit must be at least 1 (leave it out to evaluate every question).");
        if (a.FewShot < 0) throw new CompactException("--few-shot must be 0 or more.");
        if (a.Concurrency < 1) throw new CompactException("--concurrency must be at least 1.");
        if (a.RequestTimeout <= 0) throw new CompactException("--request-timeout must be more than 0 seconds.");
        if (a.MaxRetries < 0) throw new CompactException("--max-retries must be 0 or more.");
        Devices.ParseDType(a.DType);
        var endpoints = ParseEndpoints(a);
        var models = ParseModels(a, requireOne: endpoints.Count == 0);
        if (models.Select(m => m.Name).Concat(endpoints.Select(e => e.Name)).GroupBy(n => n, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1) is { } dup)
            throw new CompactException($"two models are named \"{dup.Key}\"; give each a distinct name (--models NAME=DIR, --endpoint NAME=URL#MODEL).");
        var benches = LoadBenches(a);

        var config = new JsonObject
        {
            ["models"] = new JsonArray(models.Select(m => (JsonNode)new JsonObject { ["name"] = m.Name, ["dir"] = m.Dir, ["adapter"] = m.Adapter }).ToArray()),
            ["endpoints"] = new JsonArray(endpoints.Select(e => (JsonNode)new JsonObject
            {
                ["name"] = e.Name, ["url"] = e.BaseUrl, ["served_model"] = e.ServedModel, ["api_key_env"] = e.ApiKeyEnv,
                ["concurrency"] = e.Concurrency, ["request_timeout_s"] = e.TimeoutSeconds, ["max_retries"] = e.Retry.MaxRetries,
            }).ToArray()),
            ["escape_special_in_content"] = a.EscapeSpecialInContent,
            ["bench"] = new JsonArray(benches.Select(b => (JsonNode)new JsonObject { ["name"] = b.Name, ["file"] = b.Source, ["items"] = b.Items.Count, ["of"] = b.Total }).ToArray()),
            ["out"] = a.Out, ["limit"] = a.Limit, ["seed"] = a.Seed, ["max_new_tokens"] = a.MaxNewTokens, ["batch_size"] = a.BatchSize,
            ["instruction"] = a.Instruction, ["few_shot"] = a.FewShot, ["device"] = a.Device, ["dtype"] = a.DType,
        };
        output.WriteLine($"compact eval config: {config.ToJsonString(Compact.Util.Jsonl.Options)}");
        Directory.CreateDirectory(a.Out);
        AtomicFile.WriteAllText(Path.Combine(a.Out, "eval_config.json"), config.ToJsonString(Compact.Util.Jsonl.Indented));

        if (a.EscapeSpecialInContent && endpoints.Count > 0)
            output.WriteLine("Note: --escape-special-in-content applies to the local models; each server encodes its prompts itself (compact serve has the same flag).");
        var evalModels = models.Select(m =>
        {
            var describe = new JsonObject { ["name"] = m.Name, ["dir"] = Path.GetFullPath(m.Dir), ["adapter"] = m.Adapter is null ? null : Path.GetFullPath(m.Adapter) };
            if (a.EscapeSpecialInContent) describe["escape_special_in_content"] = true;     // only when on: older runs resume unchanged
            return new EvalModel(m.Name, () =>
            {
                Devices.ConfigureThreads();
                return new ModelAnswerer(LoadedModel.Load(m.Dir, m.Adapter, a.Device, a.DType), a.MaxNewTokens, escapeSpecialInContent: a.EscapeSpecialInContent);
            }, describe);
        }).Concat(endpoints.Select(e => new EvalModel(e.Name, () => new EndpointAnswerer(e, a.MaxNewTokens),
            new JsonObject { ["name"] = e.Name, ["endpoint"] = e.BaseUrl, ["served_model"] = e.ServedModel, ["temperature"] = 0 },
            new JsonObject { ["max_new_tokens"] = a.MaxNewTokens }))).ToList();
        var options = new EvalOptions
        {
            BatchSize = a.BatchSize,
            Instruction = a.Instruction,
            Settings = new JsonObject { ["max_new_tokens"] = a.MaxNewTokens, ["dtype"] = a.DType },
        };

        EvalReport report;
        using (var ctrlC = TrainOptions.CancelOnCtrlC("Stopping: the answers so far are saved; run the same command again to continue."))
            report = EvalRunner.Run(evalModels, benches, options, a.Out, output, new ProgressHost(output), ctrlC.Token);

        Tables.Write(output, "Accuracy (%) ± standard error", report.Headers, report.Rows);
        output.WriteLine($"Results → {Path.Combine(a.Out, "results.md")} (and results.csv, results.json); predictions in {Path.Combine(a.Out, "<model>")}/");
        int unanswered = report.Results.Sum(r => r.Unanswered);
        if (unanswered == 0) return 0;
        output.WriteLine($"Incomplete: {unanswered} questions got no reply from a server (see <model>/<bench>.errors.jsonl) and are not in the scores; "
            + "run the same command again to ask them again.");
        return 1;
    }

    /// <summary>Every --endpoint [NAME=]URL[#MODEL]; without #MODEL, one model per --served-model. The name (the folder
    /// under --out) is NAME, else the served model's name with characters other than letters, digits, '.', '_', '-', '+'
    /// replaced by '_'.</summary>
    public static IReadOnlyList<EndpointSpec> ParseEndpoints(Args a)
    {
        var served = SplitList(a.ServedModels).ToList();
        var specs = new List<EndpointSpec>();
        var retry = (a.Retry ?? RetryPolicy.Default) with { MaxRetries = a.MaxRetries };
        bool usedServed = false;
        foreach (var value in a.Endpoints.Select(v => v.Trim()).Where(v => v.Length > 0))
        {
            int scheme = value.IndexOf("://", StringComparison.Ordinal), eq = value.IndexOf('=');
            string? name = eq > 0 && (scheme < 0 || eq < scheme) ? value[..eq].Trim() : null;
            var rest = name is null ? value : value[(eq + 1)..].Trim();
            int hash = rest.IndexOf('#');
            var url = (hash < 0 ? rest : rest[..hash]).TrimEnd('/');
            var model = hash < 0 ? null : rest[(hash + 1)..].Trim();
            if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
                throw new CompactException($"--endpoint {value}: '{url}' is not an http(s) URL; write [NAME=]URL[#SERVED_MODEL], e.g. --endpoint student=http://localhost:8000/v1#student.");
            if (name is not null && !ValidName().IsMatch(name))
                throw new CompactException($"--endpoint {value}: the name \"{name}\" must be a plain folder name (letters, digits, '.', '_', '-', '+'); choose another name.");
            List<string> models;
            if (model is { Length: > 0 }) models = [model];
            else if (hash >= 0) throw new CompactException($"--endpoint {value}: nothing after '#'; write the served model's name there, or leave '#' out and pass --served-model.");
            else if (served.Count == 0) throw new CompactException($"--endpoint {value}: which model? pass --served-model NAME (the name the server serves it under), or write URL#NAME.");
            else { models = served; usedServed = true; }
            if (name is not null && models.Count > 1)
                throw new CompactException($"--endpoint {value}: one NAME for {models.Count} served models; give one --endpoint NAME=URL#MODEL per model instead.");
            foreach (var m in models)
                specs.Add(new EndpointSpec(name ?? InvalidNameChars().Replace(m, "_"), url, m, a.ApiKeyEnv, a.Concurrency, a.RequestTimeout) { Retry = retry });
        }
        if (served.Count > 0 && !usedServed)
            throw new CompactException("--served-model is given but no --endpoint uses it; add --endpoint URL (without #MODEL).");
        if (a.ApiKeyEnv is not null && specs.Count == 0)
            throw new CompactException("--api-key-env is given but there is no --endpoint; add --endpoint URL --served-model NAME.");
        if (a.ApiKeyEnv is { } env && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(env)))
            throw new CompactException($"--api-key-env {env}: the environment variable is not set; export it, or leave --api-key-env out for a server without a key.");
        return specs;
    }

    /// <summary>--model [--adapter] first, then every --models NAME=DIR[+ADAPTER]; names must be unique folder names.</summary>
    public static IReadOnlyList<ModelSpec> ParseModels(Args a, bool requireOne = true)
    {
        var specs = new List<ModelSpec>();
        if (a.Adapter is not null && a.Model is null)
            throw new CompactException("--adapter needs --model (the base checkpoint); with --models write NAME=DIR+ADAPTER_DIR instead.");
        if (a.Model is not null)
        {
            RequireDir(a.Model, "--model");
            if (a.Adapter is not null) RequireDir(a.Adapter, "--adapter");
            var name = FolderName(a.Model) + (a.Adapter is null ? "" : "+" + FolderName(a.Adapter));
            specs.Add(new ModelSpec(InvalidNameChars().Replace(name, "_"), a.Model, a.Adapter));
        }
        foreach (var value in SplitList(a.Models))
        {
            int eq = value.IndexOf('=');
            if (eq <= 0 || eq == value.Length - 1)
                throw new CompactException($"--models {value}: expected NAME=DIR or NAME=DIR+ADAPTER_DIR, e.g. --models base=models/qwen tuned=models/qwen+runs/compact/adapter.");
            var (name, rest) = (value[..eq].Trim(), value[(eq + 1)..].Trim());
            if (!ValidName().IsMatch(name))
                throw new CompactException($"--models {value}: the name \"{name}\" must be a plain folder name (letters, digits, '.', '_', '-', '+'); choose another name.");
            specs.Add(SplitDirAdapter(name, rest, value));
        }
        if (specs.Count == 0 && requireOne)
            throw new CompactException("no model given; pass --model DIR (optionally --adapter DIR), --models NAME=DIR[+ADAPTER_DIR] once per model, or --endpoint URL --served-model NAME.");
        if (specs.GroupBy(s => s.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1) is { } dup)
            throw new CompactException($"two models are named \"{dup.Key}\"; give each a distinct name with --models NAME=DIR.");
        return specs;
    }

    /// <summary>"DIR" or "DIR+ADAPTER": the split is the first '+' whose left side is an existing folder, so folder
    /// names holding '+' still work.</summary>
    static ModelSpec SplitDirAdapter(string name, string rest, string value)
    {
        if (Directory.Exists(rest)) return new ModelSpec(name, rest, null);
        for (int i = rest.IndexOf('+'); i > 0; i = rest.IndexOf('+', i + 1))
        {
            var (dir, adapter) = (rest[..i], rest[(i + 1)..]);
            if (!Directory.Exists(dir)) continue;
            if (!Directory.Exists(adapter))
                throw new CompactException($"--models {value}: no adapter folder {adapter}; give NAME=DIR+ADAPTER_DIR with the adapter's folder (adapter_config.json, adapter_model.safetensors).");
            return new ModelSpec(name, dir, adapter);
        }
        throw new CompactException($"--models {value}: no model folder {rest.Split('+')[0]}; give NAME=DIR or NAME=DIR+ADAPTER_DIR with existing folders.");
    }

    /// <summary>Reads each --bench NAME=FILE (errors name the file and line), selects --limit/--seed items, picks few-shot examples.</summary>
    public static IReadOnlyList<EvalBench> LoadBenches(Args a)
    {
        var fewShotFiles = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var value in SplitList(a.FewShotFile ?? []))
        {
            int eq = value.IndexOf('=');
            if (eq <= 0) throw new CompactException($"--few-shot-file {value}: expected NAME=FILE, NAME being one of the --bench names.");
            fewShotFiles[value[..eq].Trim()] = value[(eq + 1)..].Trim();
        }
        if (fewShotFiles.Count > 0 && a.FewShot == 0)
            throw new CompactException("--few-shot-file is given but --few-shot is 0; add --few-shot N.");

        var benches = new List<EvalBench>();
        foreach (var value in SplitList(a.Bench))
        {
            int eq = value.IndexOf('=');
            var (name, file) = eq < 0 ? ("auto", value) : (value[..eq].Trim().ToLowerInvariant(), value[(eq + 1)..].Trim());
            if (name == "auto") name = Load(() => BenchmarkLoader.Detect(file), name, file, $"--bench {value}");
            var all = Load(() => BenchmarkLoader.Load(name, file), name, file, $"--bench {value}");
            if (benches.Any(b => b.Name == name))
                throw new CompactException($"--bench names {name} twice; give each benchmark once.");
            EvalSelection.RequireUniqueIds(all, file);
            var items = EvalSelection.Select(all, a.Limit, a.Seed);
            IReadOnlyList<BenchItem> shots = [];
            if (a.FewShot > 0)
                shots = fewShotFiles.Remove(name, out var shotFile)
                    ? EvalSelection.FewShot(Load(() => BenchmarkLoader.Load(name, shotFile), name, shotFile, $"--few-shot-file {name}={shotFile}"), items, a.FewShot, sameFile: false, shotFile)
                    : EvalSelection.FewShot(all, items, a.FewShot, sameFile: true, file);
            benches.Add(new EvalBench(name, file, WithExtraction(items, a.Extraction), WithExtraction(shots, a.Extraction), all.Count));
        }
        if (benches.Count == 0) throw new CompactException("no benchmark given; pass --bench NAME=FILE, e.g. --bench gsm8k=shared/benchmarks/gsm8k_test.jsonl.");
        if (fewShotFiles.Count > 0)
            throw new CompactException($"--few-shot-file names {string.Join(", ", fewShotFiles.Keys)}, which is not among the --bench names; use the same names.");
        return benches;
    }

    /// <summary>--extraction on the numeric items (the harness's filters read numbers; other kinds keep their checker).</summary>
    static IReadOnlyList<BenchItem> WithExtraction(IReadOnlyList<BenchItem> items, string extraction)
    {
        var mode = Answers.HarnessExtraction.Parse(extraction);
        return mode == Answers.Extraction.Default ? items
            : items.Select(i => i.Kind == Answers.AnswerKind.Numeric ? i with { Extraction = mode } : i).ToList();
    }

    /// <summary>Runs a benchmark reader, turning its errors into one sentence with the fix.</summary>
    static T Load<T>(Func<T> read, string name, string file, string flag)
    {
        try { return read(); }
        catch (ArgumentException)
        {
            throw new CompactException($"{flag}: unknown benchmark \"{name}\"; use one of {string.Join(", ", BenchmarkLoader.Names)}, or auto.");
        }
        catch (FileNotFoundException)
        {
            throw new CompactException($"{flag}: file {file} not found; check the path (the public benchmark files are in shared/benchmarks/).");
        }
        catch (InvalidDataException e) { throw new CompactException(e.Message, e); }
    }

    static IEnumerable<string> SplitList(IEnumerable<string> values) =>
        values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    static void RequireDir(string dir, string flag)
    {
        if (!Directory.Exists(dir)) throw new CompactException($"{flag} {dir}: no such folder; give a Hugging Face checkpoint (or adapter) folder.");
    }

    static string FolderName(string dir) => Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/', '\\'));

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._+-]*$")]
    private static partial Regex ValidName();

    [GeneratedRegex(@"[^A-Za-z0-9._+-]")]
    private static partial Regex InvalidNameChars();
}
