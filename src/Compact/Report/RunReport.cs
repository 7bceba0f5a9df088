using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.Distill;
using Compact.IO;
using Compact.Training;
using Compact.Util;

namespace Compact.Report;

/// <summary>`compact report`: gathers training runs (run_config.json, summary.json, metrics.jsonl, loss.png,
/// teacher_weights.png), evaluation folders (results.md / results.json) and analysis folders (shift.json, mi.json and
/// their PNGs) into one self-contained HTML page and a markdown summary. Every part appears only when its files exist.
/// A run folder brings along the evaluation and analysis folders found inside it (two levels down) and a sibling
/// eval/ folder (eval/ itself when it holds results, or eval/RUN_NAME).</summary>
public static class RunReport
{
    public const string HtmlFile = "report.html", MarkdownFile = "report.md";

    static readonly HashSet<string> SkipDirs = [Engine.CheckpointsDir, "tb", "adapter", "model"];

    /// <summary>Settings shown up front for a run whose configuration is a flat set of flags (sft), in this order,
    /// when it has them. A distillation run's come from its <see cref="DistillConfig"/> (<see cref="KeySettings"/>).</summary>
    static readonly string[] FlagSettings =
    [
        "method", "teacher", "model", "data", "epochs", "max_steps", "lr", "schedule", "warmup_steps", "batch_size", "grad_accum",
        "full", "lora_r", "lora_alpha", "lora_dropout", "max_seq_len", "estimator", "beta_mi", "beta_cons", "beta_ppl", "tau", "lambda",
        "no_mi", "no_cons", "no_ppl", "reference_code", "mcc_weight", "mot_rounds", "seed", "device", "dtype",
    ];

    public static bool IsEval(string d) => File.Exists(Path.Combine(d, "results.json")) || File.Exists(Path.Combine(d, "results.md"));
    public static bool IsAnalysis(string d) => File.Exists(Path.Combine(d, "shift.json")) || File.Exists(Path.Combine(d, "mi.json"));
    public static bool IsRun(string d) => File.Exists(Path.Combine(d, Engine.MetricsFile))
        || (!IsEval(d) && (File.Exists(Path.Combine(d, Engine.RunConfigFile)) || File.Exists(Path.Combine(d, "summary.json"))));

    /// <summary>Writes report.html and report.md into outDir (default: the first folder) and returns their paths.</summary>
    public static (string Html, string Markdown) Write(IReadOnlyList<string> dirs, string? outDir = null, string? title = null)
    {
        var doc = Build(dirs, title);
        var dir = outDir ?? dirs[0];
        Directory.CreateDirectory(dir);
        var html = Path.Combine(dir, HtmlFile);
        var md = Path.Combine(dir, MarkdownFile);
        AtomicFile.WriteAllText(html, Html.Render(doc));
        AtomicFile.WriteAllText(md, MarkdownWriter.Render(doc, dir));
        return (html, md);
    }

    public static ReportDocument Build(IReadOnlyList<string> dirs, string? title = null)
    {
        if (dirs.Count == 0) throw new CompactException("give at least one run, evaluation or analysis folder.");
        var found = new List<(string Kind, string Dir, string Title)>();
        var seen = new HashSet<(string, string)>();
        void Add(string kind, string d, string? title = null)
        {
            var full = Path.GetFullPath(d).TrimEnd('/');
            // Runs named by seed (runs/compact/seed-0) are titled with their parent folder too.
            var leaf = Path.GetFileName(full);
            if (leaf.StartsWith("seed-", StringComparison.Ordinal) && Path.GetDirectoryName(full) is { } par) leaf = $"{Path.GetFileName(par)}/{leaf}";
            if (seen.Add((kind, full))) found.Add((kind, full, title ?? leaf));
        }
        // Evaluation and analysis folders inside a run, up to two levels down, titled by their path from the run.
        List<string> Nested(string root, int depth)
        {
            var list = new List<string>();
            if (depth == 0) return list;
            foreach (var sub in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
            {
                var name = Path.GetFileName(sub);
                if (name.StartsWith('.') || SkipDirs.Contains(name)) continue;
                list.Add(sub);
                list.AddRange(Nested(sub, depth - 1));
            }
            return list;
        }
        bool Classify(string d)
        {
            bool any = false;
            var full = Path.GetFullPath(d).TrimEnd('/');
            var name = Path.GetFileName(full);
            if (IsRun(d)) { Add("run", d); any = true; }
            if (IsEval(d)) { Add("eval", d); any = true; }
            if (IsAnalysis(d)) { Add("analysis", d); any = true; }
            if (IsRun(d))
            {
                var inside = Nested(d, 2);
                string Title(string sub) => $"{name}/{Path.GetRelativePath(full, sub).Replace('\\', '/')}";
                foreach (var sub in inside.Where(IsEval)) Add("eval", sub, Title(sub));
                var parent = Path.GetDirectoryName(full);
                if (parent is not null)
                {
                    var sib = Path.Combine(parent, "eval");
                    if (Directory.Exists(sib) && IsEval(sib)) Add("eval", sib, $"{name}: ../eval");
                    var mine = Path.Combine(sib, name);
                    if (Directory.Exists(mine) && IsEval(mine)) Add("eval", mine, $"{name}: ../eval/{name}");
                }
                foreach (var sub in inside.Where(IsAnalysis)) Add("analysis", sub, Title(sub));
            }
            return any;
        }
        foreach (var d in dirs)
        {
            if (!Directory.Exists(d)) throw new CompactException($"{d}: no such folder.");
            if (Classify(d)) continue;
            // A folder of runs: take its sub-folders.
            bool any = false;
            foreach (var sub in Directory.GetDirectories(d).Order(StringComparer.Ordinal)) any |= Classify(sub);
            if (!any) throw new CompactException($"{d}: no run (metrics.jsonl, run_config.json, summary.json), evaluation (results.json, results.md) or analysis (shift.json, mi.json) files there or in its sub-folders.");
        }

        var sections = new List<ReportSection>();
        var overview = new List<IReadOnlyList<string>>();
        foreach (var (kind, d, sectionTitle) in found)
        {
            var s = kind switch
            {
                "run" => RunSection(d, overview),
                "eval" => EvalSection(d),
                _ => AnalysisSection(d),
            };
            sections.Add(s with { Title = sectionTitle, Anchor = $"s{sections.Count + 1}" });
        }
        var table = overview.Count > 0 ? new TableBlock(null, ["run", "method", "steps", "final loss", "tokens/s", "time"], overview) : null;
        var t = title ?? (found.Count(f => f.Kind == "run") == 1 ? $"Compact report: {Path.GetFileName(found.First(f => f.Kind == "run").Dir)}" : "Compact report");
        return new ReportDocument(t, table, sections, DateTime.Now);
    }

    static JsonObject? ReadObject(string path)
    {
        if (!File.Exists(path)) return null;
        try { return JsonNode.Parse(File.ReadAllText(path)) as JsonObject; }
        catch (JsonException) { return null; }
    }

    static string Show(JsonNode? n) => n switch
    {
        null => "",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v when v.TryGetValue<double>(out var d) => Num(d),
        JsonArray a when a.All(x => x is JsonValue) => string.Join(" ", a.Select(Show)),
        _ => n.ToJsonString(),
    };

    static string Num(double d) => d == Math.Floor(d) && Math.Abs(d) < 1e15 ? d.ToString("0", CultureInfo.InvariantCulture)
        : Math.Abs(d) >= 1e-3 && Math.Abs(d) < 1e6 ? d.ToString("0.####", CultureInfo.InvariantCulture) : d.ToString("0.###e0", CultureInfo.InvariantCulture);

    static string Duration(double seconds) => TimeSpan.FromSeconds(seconds).ToString(seconds >= 3600 ? @"h\:mm\:ss" : @"m\:ss", CultureInfo.InvariantCulture);

    // ------------------------------------------------------------------ training runs

    sealed class Metrics
    {
        public int Lines, LastStep;
        public double FirstLoss = double.NaN, LastLoss = double.NaN, MinLoss = double.PositiveInfinity, Elapsed, PeakMem;
        public double TpsSum; public int TpsN;
        public double GradSum; public int GradN;
        public readonly Dictionary<string, double> LastParts = new();
        public readonly Dictionary<string, List<double>> Alpha = new();
        public readonly Dictionary<string, Dictionary<string, (double Sum, int N)>> Scores = new();
    }

    static Metrics? ReadMetrics(string dir)
    {
        var path = Path.Combine(dir, Engine.MetricsFile);
        if (!File.Exists(path)) return null;
        var m = new Metrics();
        foreach (var r in StepRecord.ReadAll(path))
        {
            m.Lines++;
            m.LastStep = r.Step;
            if (r.Loss is { } loss)
            {
                if (double.IsNaN(m.FirstLoss)) m.FirstLoss = loss;
                m.LastLoss = loss;
                m.MinLoss = Math.Min(m.MinLoss, loss);
            }
            if (r.TokensPerSecond is { } tps) { m.TpsSum += tps; m.TpsN++; }
            if (r.GradNorm is { } gn) { m.GradSum += gn; m.GradN++; }
            if (r.ElapsedSeconds is { } el) m.Elapsed = el;
            if (r.MemoryMb is { } mem) m.PeakMem = Math.Max(m.PeakMem, mem);
            foreach (var (k, part) in r.LossParts) m.LastParts[k] = part;
            foreach (var (t, a) in r.AlphaMean ?? new Dictionary<string, double>())
            {
                if (!m.Alpha.TryGetValue(t, out var l)) m.Alpha[t] = l = new();
                l.Add(a);
            }
            foreach (var it in r.Items ?? [])
                foreach (var (key, vals) in new[] { ("s_ppl", it.SPpl), ("s_cons", it.SCons), ("s_mi", it.SMi), ("alpha", it.Alpha) })
                    for (int i = 0; i < it.Teachers.Count && i < vals.Count; i++)
                    {
                        if (!m.Scores.TryGetValue(it.Teachers[i], out var per)) m.Scores[it.Teachers[i]] = per = new();
                        var (sum, n) = per.GetValueOrDefault(key);
                        per[key] = (sum + vals[i], n + 1);
                    }
        }
        return m.Lines == 0 ? null : m;
    }

    /// <summary>A distillation run's settings shown up front, from its typed config: only those that apply to its method
    /// (epochs without max_steps, the LoRA shape unless full fine-tuning, COMPACT's scoring knobs for compact, λ for
    /// compact and uniform, each baseline's own setting, switches that are on).</summary>
    public static List<(string Key, string Value)> KeySettings(DistillConfig c)
    {
        static string N(double v) => Num(v);
        var t = c.Train;
        var m = c.Method;
        var items = new List<(string, string)> { ("method", DistillRun.Name(m)) };
        if (c.Teacher is not null) items.Add(("teacher", c.Teacher));
        items.Add(("model", c.Model));
        items.Add(("data", c.Data));
        if (t.MaxSteps is { } ms) items.Add(("max_steps", ms.ToString(CultureInfo.InvariantCulture)));
        else if (t.Epochs is { } ep) items.Add(("epochs", ep.ToString(CultureInfo.InvariantCulture)));
        items.Add(("lr", N(t.Lr)));
        items.Add(("schedule", t.Schedule.ToString().ToLowerInvariant()));
        items.Add(("warmup_steps", t.WarmupSteps.ToString(CultureInfo.InvariantCulture)));
        items.Add(("batch_size", t.BatchSize.ToString(CultureInfo.InvariantCulture)));
        items.Add(("grad_accum", t.GradAccum.ToString(CultureInfo.InvariantCulture)));
        if (c.Lora is { } l)
        {
            items.Add(("lora_r", l.Rank.ToString(CultureInfo.InvariantCulture)));
            items.Add(("lora_alpha", N(l.Alpha)));
            items.Add(("lora_dropout", N(l.Dropout)));
        }
        else items.Add(("full", "true"));
        items.Add(("max_seq_len", t.MaxSeqLen.ToString(CultureInfo.InvariantCulture)));
        var k = c.Compact;
        if (m == DistillMethod.Compact)
        {
            items.Add(("estimator", k.Estimator.ToString().ToLowerInvariant()));
            items.Add(("beta_mi", N(k.BetaMi)));
            items.Add(("beta_cons", N(k.BetaCons)));
            items.Add(("beta_ppl", N(k.BetaPpl)));
            items.Add(("tau", N(k.Tau)));
        }
        if (m is DistillMethod.Compact or DistillMethod.Uniform) items.Add(("lambda", N(k.Lambda)));
        if (k.ReferenceCode) items.Add(("reference_code", "true"));
        if (m == DistillMethod.Mcc) items.Add(("mcc_weight", N(c.MccWeight)));
        if (m == DistillMethod.Mot) items.Add(("mot_rounds", c.MotRounds.ToString(CultureInfo.InvariantCulture)));
        items.Add(("seed", c.Seed.ToString(CultureInfo.InvariantCulture)));
        items.Add(("device", c.Device));
        items.Add(("dtype", c.DType));
        return items;
    }

    /// <summary>Leaves out settings that do not apply to this run: epochs under max_steps, LoRA shape in full
    /// fine-tuning, COMPACT's scoring knobs for other methods, other methods' own flags, switches left off.</summary>
    static bool Relevant(string key, JsonObject cfg, string method)
    {
        bool True(string k) => cfg[k] is JsonValue v && v.TryGetValue<bool>(out var b) && b;
        string m = method.Split(' ')[^1];
        return key switch
        {
            "epochs" => cfg["max_steps"] is null,
            "lora_r" or "lora_alpha" or "lora_dropout" => !True("full"),
            "full" or "no_mi" or "no_cons" or "no_ppl" or "reference_code" => True(key),
            "estimator" or "beta_mi" or "beta_cons" or "beta_ppl" or "tau" => m is "compact" or "",
            "lambda" => m is "compact" or "uniform" or "",
            "mcc_weight" => m == "mcc",
            "mot_rounds" => m == "mot",
            _ => true,
        };
    }

    static ReportSection RunSection(string dir, List<IReadOnlyList<string>> overview)
    {
        var blocks = new List<Block>();
        var cfg = ReadObject(Path.Combine(dir, Engine.RunConfigFile));
        var typed = DistillConfig.TryLoad(dir);
        var summary = RunSummary.TryRead(dir);
        var metrics = ReadMetrics(dir);
        string method = summary?.Method is { Length: > 0 } sm ? sm : typed is not null ? DistillRun.Name(typed.Method)
            : Show(cfg?["method"]) is { Length: > 0 } cm ? cm : summary?.Verb ?? "";

        if (cfg is not null)
        {
            var items = typed is not null ? KeySettings(typed)
                : FlagSettings.Where(k => cfg.ContainsKey(k) && cfg[k] is not null && Relevant(k, cfg, method)).Select(k => (k, Show(cfg[k]))).ToList();
            if (method.Length > 0 && !items.Any(i => i.Item1 == "method")) items.Insert(0, ("method", method));
            blocks.Add(new Heading("Settings"));
            if (items.Count > 0) blocks.Add(new KeyValues(null, items));
            blocks.Add(new Details($"Full configuration ({cfg.Count} settings)", cfg.ToJsonString(Compact.Util.Jsonl.Indented),
                Path.Combine(dir, Engine.RunConfigFile)));
        }

        var outcome = new List<(string, string)>();
        if (summary is not null)
        {
            if (summary.Steps is { } n) outcome.Add(("steps", n.ToString(CultureInfo.InvariantCulture)));
            if (summary.FinalLoss is { } fl0) outcome.Add(("final_loss", Num(fl0)));
            if (summary.Seconds is { } sec0) outcome.Add(("seconds", Duration(sec0)));
            if (summary.TokensPerSecond is { } tps0) outcome.Add(("tokens_per_s", Num(tps0)));
            if (summary.Output is { } output) outcome.Add(("output", output));
            if (summary.Data is { } data) outcome.Add(("data", data));
        }
        if (metrics is not null)
        {
            if (summary?.Steps != metrics.Lines)
                outcome.Add(("logged steps", metrics.Lines.ToString(CultureInfo.InvariantCulture)));
            if (!double.IsNaN(metrics.FirstLoss)) outcome.Add(("loss: first → last (min)", $"{Num(metrics.FirstLoss)} → {Num(metrics.LastLoss)} ({Num(metrics.MinLoss)})"));
            foreach (var (k, v) in metrics.LastParts.OrderBy(kv => kv.Key, StringComparer.Ordinal)) outcome.Add(($"last {k}", Num(v)));
            if (metrics.GradN > 0) outcome.Add(("mean grad norm", Num(metrics.GradSum / metrics.GradN)));
            if (metrics.TpsN > 0 && summary?.TokensPerSecond is null) outcome.Add(("mean tokens/s", Num(Math.Round(metrics.TpsSum / metrics.TpsN, 1))));
            if (metrics.PeakMem > 0) outcome.Add(("peak process memory", $"{Num(metrics.PeakMem)} MB"));
        }
        if (outcome.Count > 0) { blocks.Add(new Heading("Outcome")); blocks.Add(new KeyValues(null, outcome)); }

        var pngs = new List<ImageBlock>();
        if (File.Exists(Path.Combine(dir, "loss.png"))) pngs.Add(new ImageBlock("Training loss (loss.png)", Path.Combine(dir, "loss.png")));
        if (File.Exists(Path.Combine(dir, "teacher_weights.png"))) pngs.Add(new ImageBlock("Mean teacher weight α per step (teacher_weights.png)", Path.Combine(dir, "teacher_weights.png")));
        foreach (var p in Directory.GetFiles(dir, "*.png").Order(StringComparer.Ordinal))
            if (Path.GetFileName(p) is not ("loss.png" or "teacher_weights.png") && !Path.GetFileName(p).StartsWith('.')) pngs.Add(new ImageBlock(Path.GetFileName(p), p));
        if (pngs.Count > 0) { blocks.Add(new Heading("Curves")); blocks.AddRange(pngs); }

        if (metrics is not null && (metrics.Alpha.Count > 0 || metrics.Scores.Count > 0))
        {
            var teachers = metrics.Alpha.Keys.Union(metrics.Scores.Keys).Order(StringComparer.Ordinal).ToList();
            string Mean(string t, string key) => metrics.Scores.TryGetValue(t, out var per) && per.TryGetValue(key, out var sn) && sn.N > 0 ? (sn.Sum / sn.N).ToString("0.0000", CultureInfo.InvariantCulture) : "";
            // Scores a mode does not compute (uniform weights: consensus and MI) are logged as zeros: leave them out.
            var scoreKeys = new[] { ("s_ppl", "mean S_PPL"), ("s_cons", "mean S_cons"), ("s_mi", "mean S_MI") }
                .Where(sk => metrics.Scores.Values.Any(per => per.TryGetValue(sk.Item1, out var sn) && sn.Sum != 0)).ToList();
            var rows = teachers.Select(t =>
            {
                var a = metrics.Alpha.GetValueOrDefault(t);
                var row = new List<string>
                {
                    t,
                    a is { Count: > 0 } ? a.Average().ToString("0.0000", CultureInfo.InvariantCulture) : "",
                    a is { Count: > 0 } ? a[0].ToString("0.0000", CultureInfo.InvariantCulture) : "",
                    a is { Count: > 0 } ? a[^1].ToString("0.0000", CultureInfo.InvariantCulture) : "",
                };
                row.AddRange(scoreKeys.Select(sk => Mean(t, sk.Item1)));
                row.Add(metrics.Scores.TryGetValue(t, out var per) && per.TryGetValue("alpha", out var an) ? an.N.ToString(CultureInfo.InvariantCulture) : "");
                return (IReadOnlyList<string>)row;
            }).ToList();
            blocks.Add(new Heading("Teacher weights"));
            blocks.Add(new Para("Mean α per teacher over the run's steps (alpha_mean in metrics.jsonl), at its first and last step"
                + (scoreKeys.Count > 0 ? ", and the mean compatibility scores over every branch the teacher gave (S_PPL: difficulty, lower is easier; S_cons: consensus; S_MI: MI adaptability)." : ".")));
            blocks.Add(new TableBlock(null, new[] { "teacher", "mean α", "α first step", "α last step" }.Concat(scoreKeys.Select(sk => sk.Item2)).Append("branches").ToList(), rows));
        }
        if (blocks.Count == 0) blocks.Add(new Para("No run files could be read here."));

        double? secsOut = summary?.Seconds ?? metrics?.Elapsed;
        overview.Add(
        [
            Path.GetFileName(dir), method,
            summary?.Steps is { } st ? st.ToString(CultureInfo.InvariantCulture) : metrics?.LastStep.ToString(CultureInfo.InvariantCulture) ?? "",
            summary?.FinalLoss is { } f ? f.ToString("0.0000", CultureInfo.InvariantCulture)
                : metrics is not null && !double.IsNaN(metrics.LastLoss) ? metrics.LastLoss.ToString("0.0000", CultureInfo.InvariantCulture) : "",
            summary?.TokensPerSecond is { } tp ? Num(tp) : metrics is { TpsN: > 0 } ? Num(Math.Round(metrics.TpsSum / metrics.TpsN, 1)) : "",
            secsOut is { } sec && sec > 0 ? Duration(sec) : "",
        ]);
        return new ReportSection("run", Path.GetFileName(dir), dir, blocks);
    }

    // ------------------------------------------------------------------ evaluations

    static ReportSection EvalSection(string dir)
    {
        var blocks = new List<Block>();
        var md = Path.Combine(dir, "results.md");
        var json = Path.Combine(dir, "results.json");
        if (File.Exists(md)) blocks.Add(new MarkdownBlock(File.ReadAllText(md), dir));
        else if (File.Exists(json))
        {
            JsonNode? node = null;
            try { node = JsonNode.Parse(File.ReadAllText(json)); }
            catch (JsonException e) { blocks.Add(new Para($"results.json is not valid JSON ({e.Message.Split('.')[0]}).")); }
            if (node is not null) blocks.AddRange(JsonBlocks(node, null));
        }
        var cfg = ReadObject(Path.Combine(dir, Engine.RunConfigFile));
        if (cfg is not null) blocks.Add(new Details("Configuration", cfg.ToJsonString(Compact.Util.Jsonl.Indented), Path.Combine(dir, Engine.RunConfigFile)));
        var mdText = File.Exists(md) ? File.ReadAllText(md) : "";
        foreach (var p in Directory.GetFiles(dir, "*.png").Order(StringComparer.Ordinal))
            if (!Path.GetFileName(p).StartsWith('.') && !mdText.Contains(Path.GetFileName(p), StringComparison.Ordinal))
                blocks.Add(new ImageBlock(Path.GetFileName(p), p));
        return new ReportSection("eval", Path.GetFileName(dir), dir, blocks);
    }

    const int MaxTableRows = 60;

    /// <summary>Generic view of a results.json: scalars as a list, lists of flat objects and objects of flat objects as
    /// tables (long per-item lists are only counted), anything deeper folded away as JSON.</summary>
    public static List<Block> JsonBlocks(JsonNode node, string? caption)
    {
        var blocks = new List<Block>();
        static bool Flat(JsonNode? n) => n is JsonObject o && o.All(kv => kv.Value is null or JsonValue || kv.Value is JsonArray a && a.All(x => x is JsonValue));
        TableBlock Rows(string? cap, IEnumerable<(string? Key, JsonObject Obj)> objs)
        {
            var list = objs.ToList();
            var cols = list.SelectMany(x => x.Obj.Select(kv => kv.Key)).Distinct().ToList();
            bool keyed = list.Any(x => x.Key is not null);
            var headers = (keyed ? new[] { "" } : []).Concat(cols).ToList();
            var rows = list.Select(x => (IReadOnlyList<string>)(keyed ? new[] { x.Key ?? "" } : []).Concat(cols.Select(c => Show(x.Obj[c]))).ToList()).ToList();
            return new TableBlock(cap, headers, rows);
        }
        switch (node)
        {
            case JsonArray arr when arr.Count > 0 && arr.All(Flat):
                if (arr.Count <= MaxTableRows) blocks.Add(Rows(caption, arr.Select(x => ((string?)null, (JsonObject)x!))));
                else blocks.Add(new Para($"{caption ?? "results"}: {arr.Count} records (not shown)."));
                break;
            case JsonObject obj when obj.Count > 0 && obj.All(kv => Flat(kv.Value)) && obj.Count <= MaxTableRows:
                blocks.Add(Rows(caption, obj.Select(kv => ((string?)kv.Key, (JsonObject)kv.Value!))));
                break;
            case JsonObject obj:
                var scalars = obj.Where(kv => kv.Value is null or JsonValue || kv.Value is JsonArray a && a.All(x => x is JsonValue) && a.Count <= 20)
                    .Select(kv => (kv.Key, Show(kv.Value))).ToList();
                if (scalars.Count > 0) blocks.Add(new KeyValues(caption, scalars));
                foreach (var (k, v) in obj)
                {
                    if (v is null or JsonValue || v is JsonArray a0 && a0.All(x => x is JsonValue) && a0.Count <= 20) continue;
                    var name = caption is null ? k : $"{caption}.{k}";
                    if (v is JsonArray { Count: > MaxTableRows } big) blocks.Add(new Para($"{name}: {big.Count} records (not shown)."));
                    else if (v is JsonArray a1 && a1.All(Flat) || v is JsonObject o1 && o1.All(kv => Flat(kv.Value)) || Flat(v)) blocks.AddRange(JsonBlocks(v, name));
                    else blocks.Add(new Details(name, v.ToJsonString(Compact.Util.Jsonl.Indented)));
                }
                break;
            default:
                blocks.Add(new Details(caption ?? "results.json", node.ToJsonString(Compact.Util.Jsonl.Indented)));
                break;
        }
        return blocks;
    }

    // ------------------------------------------------------------------ analyses

    static ReportSection AnalysisSection(string dir)
    {
        var blocks = new List<Block>();
        var shift = ReadObject(Path.Combine(dir, "shift.json"));
        var used = new HashSet<string>();
        if (shift is not null)
        {
            blocks.Add(new Heading("PCA shift per layer"));
            blocks.Add(new Para($"Distance between the tuned and the base centroid of each layer's {Show(shift["pooling"])}-pooled hidden states, projected on the base's "
                + $"top {Show(shift["components"])} principal components ({Show(shift["prompts"])} prompts; layer 0 = embeddings). In brackets: the same in units of the base's spread."));
            if (shift["tuned"] is JsonArray tuned && tuned.Count > 0)
            {
                var models = tuned.OfType<JsonObject>().ToList();
                int layers = models.Max(m => (m["layers"] as JsonArray)?.Count ?? 0);
                var rows = Enumerable.Range(0, layers).Select(l => (IReadOnlyList<string>)new[] { l.ToString(CultureInfo.InvariantCulture) }.Concat(models.Select(m =>
                    m["layers"] is JsonArray ls && l < ls.Count && ls[l] is JsonObject o
                        ? $"{Num(o["shift"]!.GetValue<double>())} ({(o["shift_rel"] is JsonValue r ? r.GetValue<double>().ToString("0.000", CultureInfo.InvariantCulture) : "")})" : "")).ToList()).ToList();
                blocks.Add(new TableBlock(null, new[] { "layer" }.Concat(models.Select(m => Show(m["name"]))).ToList(), rows));
            }
            foreach (var name in new[] { "shift.png" }.Concat(Directory.GetFiles(dir, "pca_layer*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal))!)
            {
                var p = Path.Combine(dir, name!);
                if (File.Exists(p) && used.Add(name!)) blocks.Add(new ImageBlock(name == "shift.png" ? "PCA shift per layer (shift.png)" : $"First two principal components ({name})", p));
            }
        }
        var mi = ReadObject(Path.Combine(dir, "mi.json"));
        if (mi is not null)
        {
            blocks.Add(new Heading("Information-gain trajectory"));
            blocks.Add(new Para($"l_t along a teacher's reasoning chain ({Show(mi["estimator"])} estimator); vertical lines mark thinking tokens. S_MI = mean over the chain of the thinking-weighted positive gains."));
            var rows = new List<IReadOnlyList<string>>();
            foreach (var q in (mi["questions"] as JsonArray ?? []).OfType<JsonObject>())
                foreach (var m in (q["models"] as JsonArray ?? []).OfType<JsonObject>())
                {
                    var l = (m["l"] as JsonArray)?.Select(x => x!.GetValue<double>()).ToList() ?? [];
                    rows.Add([Show(q["id"]), Show(q["teacher"]), Show(m["name"]), l.Count.ToString(CultureInfo.InvariantCulture),
                        l.Count > 0 ? l[0].ToString("0.000", CultureInfo.InvariantCulture) : "", l.Count > 0 ? l[^1].ToString("0.000", CultureInfo.InvariantCulture) : "",
                        m["s_mi"] is JsonValue v ? v.GetValue<double>().ToString("0.00000", CultureInfo.InvariantCulture) : ""]);
                }
            if (rows.Count > 0) blocks.Add(new TableBlock(null, ["question", "teacher", "model", "points", "l first", "l last", "S_MI"], rows));
            foreach (var p in Directory.GetFiles(dir, "mi*.png").Order(StringComparer.Ordinal))
                if (used.Add(Path.GetFileName(p))) blocks.Add(new ImageBlock($"Information gain ({Path.GetFileName(p)})", p, Wide: true));
        }
        foreach (var p in Directory.GetFiles(dir, "*.png").Order(StringComparer.Ordinal))
            if (!Path.GetFileName(p).StartsWith('.') && used.Add(Path.GetFileName(p))) blocks.Add(new ImageBlock(Path.GetFileName(p), p));
        return new ReportSection("analysis", Path.GetFileName(dir), dir, blocks);
    }
}
