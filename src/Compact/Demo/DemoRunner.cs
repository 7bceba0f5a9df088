using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Distill;
using Compact.Eval;
using Compact.Generation;
using Compact.IO;
using Compact.Models;
using Compact.Analysis;
using Compact.Report;
using Compact.Serving;
using Compact.Teach;
using Compact.Tokenization;
using Compact.Training;
using Compact.Util;
using TorchSharp;

namespace Compact.Demo;

/// <summary>How big the demo is. Full: the README's table (≤ 20 min on 2 cores); Quick: the same pipeline in
/// miniature (≤ 3 min), for a first look and the end-to-end test.</summary>
public sealed record DemoScale
{
    public required string Name { get; init; }
    public int TrainQuestions { get; init; }
    public int TestQuestions { get; init; }
    public int HardQuestions { get; init; }
    public int OriginalQuestions { get; init; }
    public int PretrainSteps { get; init; }
    public int PretrainBatch { get; init; } = 32;
    public int DistillSteps { get; init; }
    public int GradAccum { get; init; } = 4;
    public int Seeds { get; init; }
    public int MaxNewTokens { get; init; } = 64;
    public int VocabSize { get; init; } = 1024;
    public double DistillLr { get; init; } = 2e-3;
    /// <summary>Steps per problem: training and in-distribution tests, and the harder split.</summary>
    public int MinSteps { get; init; } = 2;
    public int MaxSteps { get; init; } = 3;
    public int HardMinSteps { get; init; } = 4;
    public int HardMaxSteps { get; init; } = 5;
    public string Preset { get; init; } = "qwen2-small";

    public static readonly DemoScale Full = new()
    {
        Name = "full", TrainQuestions = 240, TestQuestions = 100, HardQuestions = 100, OriginalQuestions = 100,
        PretrainSteps = 500, DistillSteps = 80, Seeds = 3,
    };

    public static readonly DemoScale Quick = new()
    {
        Name = "quick", TrainQuestions = 32, TestQuestions = 24, HardQuestions = 16, OriginalQuestions = 24,
        PretrainSteps = 60, DistillSteps = 8, GradAccum = 2, Seeds = 2, MaxNewTokens = 48, Preset = "qwen2-tiny", VocabSize = 320,
    };
}

public sealed record DemoOptions
{
    public string Out { get; init; } = "compact-demo";
    public bool Quick { get; init; }
    public long Seed { get; init; }
    public DemoScale? Scale { get; init; }
}

/// <summary>One training mode of the comparison: a name for the table and the distill settings it means.</summary>
public sealed record DemoMethod(string Name, DistillMethod Method, string? Teacher = null, FusionWeights? Fusion = null);

/// <summary>`compact demo`: the whole pipeline on the built-in world. Pre-trains (or reuses) a tiny student on
/// "original knowledge", serves four scripted teachers over HTTP and collects their rationales with `teach`,
/// scores the student's compatibility with each teacher, distils with COMPACT, every baseline and the three
/// ablations on the same budget and seeds, evaluates every student on in-distribution, harder and original-
/// knowledge questions, and writes the report. Every stage resumes: rerunning the command redoes only what is
/// missing.</summary>
public static class DemoRunner
{
    public const string WorldVersion = "world-v4";
    /// <summary>The demo's table as data (bench/results/demo.json keeps the full run's copy).</summary>
    public const string ResultsFile = "demo_results.json";

    public static IReadOnlyList<DemoMethod> Methods()
    {
        var d = new FusionWeights();
        return
        [
            new("compact", DistillMethod.Compact),
            new("uniform", DistillMethod.Uniform),
            new("mot", DistillMethod.Mot),
            new("mcc-kd", DistillMethod.Mcc),
            .. ScriptedTeacher.All().Select(t => new DemoMethod($"single-{t.ModelId}", DistillMethod.Single, t.ModelId)),
            new("compact-no-mi", DistillMethod.Compact, Fusion: d with { BetaMi = 0 }),
            new("compact-no-cons", DistillMethod.Compact, Fusion: d with { BetaCons = 0 }),
            new("compact-no-ppl", DistillMethod.Compact, Fusion: d with { BetaPpl = 0 }),
        ];
    }

    public static DemoSummary Run(DemoOptions o, TextWriter log, ProgressHost progress, CancellationToken ct = default)
    {
        var scale = o.Scale ?? (o.Quick ? DemoScale.Quick : DemoScale.Full);
        var sw = Stopwatch.StartNew();
        Directory.CreateDirectory(o.Out);
        Devices.ConfigureThreads();
        void Stage(string s) => log.WriteLine($"\n== {s}  [{sw.Elapsed:mm\\:ss}]");

        Stage($"1/7 World ({scale.Name}): multi-step word problems, single-step facts and comparisons");
        var world = WriteWorld(o, scale);
        log.WriteLine($"train {world.Train.Count} problems ({scale.MinSteps}–{scale.MaxSteps} steps); tests: in-distribution {world.Id.Count}, harder ({scale.HardMinSteps}–{scale.HardMaxSteps} steps) {world.Hard.Count}, "
            + $"facts {world.Facts.Count}, comparisons {world.Compare.Count}");

        Stage("2/7 Student: pre-train a tiny model on original knowledge (cached)");
        var student = PretrainStudent(o, scale, log, progress, ct);

        Stage("3/7 Teach: four scripted teachers served over HTTP, rationales collected and checked by `teach`");
        var dataset = RunTeach(o, world, log, progress, ct);

        Stage("4/7 Score: the student's compatibility with each teacher before training");
        var questions = BuildQuestions(student, dataset);
        var scoreSummary = RunScore(o, student, questions, log, progress);

        Stage($"5/7 Distill: {Methods().Count} methods × {scale.Seeds} seeds, {scale.DistillSteps} steps × {scale.GradAccum} questions each");
        var runs = new List<(DemoMethod Method, int Seed, string Dir)>();
        foreach (var m in Methods())
            for (int s = 0; s < scale.Seeds; s++)
            {
                ct.ThrowIfCancellationRequested();
                runs.Add((m, s, RunDistill(o, scale, student, questions, m, s, log, progress, ct)));
            }

        Stage("6/7 Evaluate every student on in-distribution, harder and original-knowledge questions");
        var eval = RunEval(o, scale, student, world, runs, log, progress, ct);

        Stage("7/7 Analyses (PCA shift, information gain) and the report");
        var analyses = RunAnalyses(o, student, dataset, world, runs, log, progress, ct);
        var summary = Summarize(o, scale, student, runs, eval, scoreSummary, sw.Elapsed);
        WriteReport(o, summary, runs, analyses);
        log.WriteLine(summary.Markdown);
        log.WriteLine($"Demo finished in {sw.Elapsed:mm\\:ss} → {Path.Combine(o.Out, "report.html")} and {Path.Combine(o.Out, "report.md")}");
        return summary;
    }

    // ------------------------------------------------------------------ world

    public sealed record WorldFiles(List<Problem> Train, List<BenchItem> Id, List<BenchItem> Hard, List<BenchItem> Facts, List<BenchItem> Compare, string TrainPath);

    static BenchItem Item(Problem p) => new(p.Id, p.Text, p.Answer.ToString(CultureInfo.InvariantCulture), AnswerKind.Numeric, Subject: $"{p.Steps.Count} steps");

    public static WorldFiles WriteWorld(DemoOptions o, DemoScale s)
    {
        var dir = Path.Combine(o.Out, "world");
        Directory.CreateDirectory(dir);
        var train = World.Problems(o.Seed, s.TrainQuestions, s.MinSteps, s.MaxSteps, "train");
        var id = World.Problems(o.Seed, s.TestQuestions, s.MinSteps, s.MaxSteps, "test").Select(Item).ToList();
        var hard = World.Problems(o.Seed, s.HardQuestions, s.HardMinSteps, s.HardMaxSteps, "hard").Select(Item).ToList();
        var rng = new Random(Seeds.Mix(o.Seed, 77));
        var facts = Enumerable.Range(0, s.OriginalQuestions).Select(i => { var f = World.Fact(rng); return new BenchItem($"fact-{i}", f.Question, f.Answer, AnswerKind.Numeric); }).ToList();
        var compare = Enumerable.Range(0, s.OriginalQuestions).Select(i => { var c = World.Comparison(rng); return new BenchItem($"cmp-{i}", c.Question, c.Answer, AnswerKind.YesNo); }).ToList();
        var trainPath = Path.Combine(dir, "train.jsonl");
        AtomicFile.WriteAllText(trainPath, string.Concat(train.Select(p =>
            new JsonObject { ["id"] = p.Id, ["question"] = p.Text, ["answer"] = p.Answer.ToString(CultureInfo.InvariantCulture) }.ToJsonString(Compact.Util.Jsonl.Options) + "\n")));
        foreach (var (name, items) in new[] { ("test_id", id), ("test_hard", hard), ("orig_facts", facts), ("orig_compare", compare) })
            AtomicFile.WriteAllText(Path.Combine(dir, name + ".jsonl"), string.Concat(items.Select(i =>
                new JsonObject { ["id"] = i.Id, ["question"] = i.Question, ["answer"] = i.Gold, ["kind"] = i.Kind.ToString().ToLowerInvariant() }.ToJsonString(Compact.Util.Jsonl.Options) + "\n")));
        return new WorldFiles(train, id, hard, facts, compare, trainPath);
    }

    // ------------------------------------------------------------------ student

    /// <summary>The pre-trained student, cached under out/student and reused while its key (world version, scale,
    /// seed) is unchanged. Pre-training is full fine-tuning of a fresh model on single-step facts and comparisons
    /// in the chat format; its tokenizer is byte-level BPE learned on the world's text.</summary>
    public static string PretrainStudent(DemoOptions o, DemoScale s, TextWriter log, ProgressHost progress, CancellationToken ct)
    {
        var dir = Path.Combine(o.Out, "student");
        var key = new JsonObject { ["world"] = WorldVersion, ["scale"] = s.Name, ["preset"] = s.Preset, ["steps"] = s.PretrainSteps, ["seed"] = o.Seed, ["vocab"] = s.VocabSize };
        var keyPath = Path.Combine(dir, "demo_student.json");
        if (File.Exists(keyPath) && File.ReadAllText(keyPath) == key.ToJsonString() && File.Exists(Path.Combine(dir, "config.json")))
        {
            log.WriteLine($"Reusing the pre-trained student in {dir}.");
            return dir;
        }
        var work = Path.Combine(o.Out, "cache", "pretrain");
        if (Directory.Exists(work) && !File.Exists(Path.Combine(work, "key.json"))) Directory.Delete(work, true);
        if (Directory.Exists(work) && File.ReadAllText(Path.Combine(work, "key.json")) != key.ToJsonString()) Directory.Delete(work, true);
        Directory.CreateDirectory(work);
        File.WriteAllText(Path.Combine(work, "key.json"), key.ToJsonString());
        var init = Path.Combine(work, "init");
        var rng = new Random(Seeds.Mix(o.Seed, 5));
        var corpus = new List<(string Q, string T)>();
        for (int i = 0; i < 6000; i++)
        {
            var (q, t, _) = (i % 10) switch { < 4 => World.Fact(rng), < 7 => World.OneStep(rng), _ => World.Comparison(rng) };
            corpus.Add((q, t));
        }
        if (!File.Exists(Path.Combine(init, "config.json")))
        {
            // Tokenizer text: the student's own knowledge plus the kind of text it will meet (problems, teacher prose).
            var text = corpus.Select(x => x.Q + " " + x.T)
                .Concat(World.Problems(o.Seed + 1000, 300, 2, 6, "tok").SelectMany(p => new[] { p.Text, ScriptedTeacher.Verbose(p, rng), ScriptedTeacher.Concise(p, rng) }));
            // Llama 3's pre-tokenizer keeps numbers whole (up to three digits), so each quantity of the world is one token.
            var bpe = ByteLevelBpeTrainer.Train(text, s.VocabSize, splitRegex: ByteLevelBpeTrainer.Llama3SplitRegex);
            if (Directory.Exists(init)) Directory.Delete(init, true);
            var tmp = init + ".tmp";
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
            Directory.CreateDirectory(tmp);
            bpe.Save(tmp);
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
        var dataPath = Path.Combine(work, "pretrain.jsonl");
        AtomicFile.WriteAllText(dataPath, string.Concat(corpus.Select(x => new JsonObject { ["question"] = x.Q, ["target"] = x.T }.ToJsonString(Compact.Util.Jsonl.Options) + "\n")));
        using var st = Student.Load(new StudentOptions { ModelDir = init, Full = true, Seed = o.Seed });
        var (examples, _) = SftData.Load(dataPath, st.Chat, 256, TruncationMode.Drop, false);
        var eo = new EngineOptions
        {
            Charts = Plots.Charts,
            OutDir = Path.Combine(work, "run"), MicroBatch = s.PretrainBatch, MaxSteps = s.PretrainSteps, Seed = o.Seed, SaveEvery = 100,
            Resume = true, Title = "pretrain student",
            Optim = new OptimizerOptions { Lr = 3e-3, WarmupSteps = Math.Max(1, s.PretrainSteps / 20), WeightDecay = 0.01, MinLrRatio = 0.1 },
        };
        var summary = Engine.Run(new SftRecipe(st, examples), eo, new JsonObject { ["pretrain"] = key.DeepClone() }, log, progress, ct);
        if (summary.Stopped) throw new OperationCanceledException();
        var tmpOut = dir + ".tmp";
        if (Directory.Exists(tmpOut)) Directory.Delete(tmpOut, true);
        st.Model.Save(tmpOut);
        Student.CopyTokenizerFiles(init, tmpOut);
        File.WriteAllText(Path.Combine(tmpOut, "demo_student.json"), key.ToJsonString());
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        Directory.Move(tmpOut, dir);
        log.WriteLine($"Pre-trained student: {summary.Steps} steps, final loss {summary.FinalLoss:0.000} → {dir}");
        return dir;
    }

    // ------------------------------------------------------------------ teach

    public static string RunTeach(DemoOptions o, WorldFiles w, TextWriter log, ProgressHost progress, CancellationToken ct)
    {
        var dir = Path.Combine(o.Out, "teach");
        Directory.CreateDirectory(dir);
        var servers = new List<OpenAiServer>();
        try
        {
            foreach (var t in ScriptedTeacher.All())
            {
                var srv = new OpenAiServer(t, new ServerOptions { Port = 0, MaxQueue = 64 });
                srv.StartAsync().GetAwaiter().GetResult();
                servers.Add(srv);
            }
            var yaml = new StringBuilder("# The demo's scripted teachers, served on loopback for this run (ports change every run).\nteachers:\n");
            foreach (var srv in servers)
                yaml.Append(CultureInfo.InvariantCulture, $"  - name: {srv.Backend.ModelId}\n    base_url: {srv.BaseAddress}v1\n    model: {srv.Backend.ModelId}\n    temperature: 0.7\n    concurrency: 4\n    timeout_s: 30\n");
            var teachersPath = Path.Combine(dir, "teachers.yaml");
            AtomicFile.WriteAllText(teachersPath, yaml.ToString());
            var questions = QuestionFiles.Load(w.TrainPath, "jsonl", AnswerKind.Numeric);
            var dataset = Path.Combine(dir, "dataset.jsonl");
            var s = TeachRunner.RunAsync(questions, TeachersFile.Load(teachersPath), new TeachOptions { Out = dataset }, progress, log, ct).GetAwaiter().GetResult();
            Tables.Write(log, "Teachers", ["teacher", "requests", "correct", "failed"],
                s.Teachers.Select(t => (IReadOnlyList<string>)[t.Teacher, t.Total.ToString(CultureInfo.InvariantCulture), t.Correct.ToString(CultureInfo.InvariantCulture), t.Failed.ToString(CultureInfo.InvariantCulture)]));
            var (qs, _) = MultiTeacherData.Load(dataset);
            log.WriteLine($"{qs.Count} questions with {qs.Sum(q => q.Rationales.Count)} correct rationales → {dataset}");
            return dataset;
        }
        finally
        {
            foreach (var srv in servers) srv.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    // ------------------------------------------------------------------ score

    public static IReadOnlyList<TeacherSummary> RunScore(DemoOptions o, string student, IReadOnlyList<QuestionBranches> qs, TextWriter log, ProgressHost progress)
    {
        using var m = LoadedModel.Load(student);
        var obj = new CompactObjective(m.Model, m.Tokenizer, new CompactOptions());
        var summary = Scoring.Run(obj, qs, Path.Combine(o.Out, "scores.jsonl"), progress);
        Tables.Write(log, "Compatibility of the pre-trained student with each teacher", Scoring.Headers, Scoring.Rows(summary));
        return summary;
    }

    /// <summary>Every question's branches, built once with the student's tokenizer (the same for every run).</summary>
    public static List<QuestionBranches> BuildQuestions(string student, string dataset)
    {
        var chat = ChatFormat.For(Student.LoadTokenizer(student));
        var (qs, _) = MultiTeacherData.Load(dataset);
        return BranchBuilder.BuildAll(chat, qs, new AnswerSuffix(), 512, TruncationMode.TruncateStart).Where(b => b.K > 0).ToList();
    }

    // ------------------------------------------------------------------ distill

    public static string RunDistill(DemoOptions o, DemoScale s, string studentDir, IReadOnlyList<QuestionBranches> questions, DemoMethod m, int seed,
        TextWriter log, ProgressHost progress, CancellationToken ct)
    {
        var dir = Path.Combine(o.Out, "runs", m.Name, $"seed-{seed}");
        if (File.Exists(Path.Combine(dir, "summary.json"))) return dir;
        long runSeed = o.Seed * 1000 + seed;
        using var student = Student.Load(new StudentOptions
        {
            ModelDir = studentDir, Seed = runSeed, Lora = new LoraConfig { Rank = 16, Alpha = 32, Dropout = 0.05 },
        });
        var qs = m.Teacher is null ? questions : BranchBuilder.ForTeacher(questions, m.Teacher).Where(q => q.K > 0).ToList();
        var options = new CompactOptions { Fusion = m.Fusion ?? new FusionWeights(), Lambda = m.Method == DistillMethod.Uniform ? 0 : 0.1 };
        var eo = new EngineOptions
        {
            Charts = Plots.Charts,
            // One micro-batch of GradAccum questions per step (the same questions per step as METHOD's accumulation of
            // one question at a time; batching them only amortises a tiny model's per-operation cost).
            OutDir = dir, MicroBatch = s.GradAccum, GradAccum = 1, MaxSteps = s.DistillSteps, Seed = runSeed, Resume = true,
            Title = $"{m.Name} seed {seed}",
            Optim = new OptimizerOptions { Lr = s.DistillLr, WarmupSteps = Math.Max(1, s.DistillSteps / 10), Schedule = ScheduleKind.Cosine, MinLrRatio = 0.1 },
        };
        var cfg = new JsonObject { ["demo"] = m.Name, ["method"] = m.Method.ToString().ToLowerInvariant(), ["teacher"] = m.Teacher, ["seed"] = runSeed };
        string result;
        if (m.Method == DistillMethod.Mot)
        {
            var mo = new MotRunner.Options
            {
                OutDir = dir, Rounds = 2, StepsPerBranch = Math.Max(1, s.DistillSteps / 2),
                Engine = eo,
            };
            result = MotRunner.Run(student, qs, mo, TextWriter.Null, progress, ct);
        }
        else
        {
            var recipe = new DistillRecipe(student, qs, new CompactObjective(student.Model, student.Tokenizer, options), m.Method, 0.1, runSeed);
            var sum = Engine.Run(recipe, eo, cfg, TextWriter.Null, progress, ct);
            if (sum.Stopped) throw new OperationCanceledException();
            TeacherCurves.Plot(dir, Plots.Charts);
            result = student.ExportFinal(dir);
        }
        AtomicFile.WriteAllText(Path.Combine(dir, "summary.json"), new JsonObject
        {
            ["method"] = m.Name, ["seed"] = seed, ["output"] = Path.GetFullPath(result),
        }.ToJsonString(Compact.Util.Jsonl.Indented));
        log.WriteLine($"{m.Name} seed {seed} → {result}");
        return dir;
    }

    // ------------------------------------------------------------------ eval

    public static readonly string[] Benches = ["in-distribution", "harder", "facts", "comparisons"];

    public static EvalReport RunEval(DemoOptions o, DemoScale s, string studentDir, WorldFiles w, IReadOnlyList<(DemoMethod Method, int Seed, string Dir)> runs,
        TextWriter log, ProgressHost progress, CancellationToken ct)
    {
        var models = new List<EvalModel> { new("base", () => new ModelAnswerer(LoadedModel.Load(studentDir), s.MaxNewTokens)) };
        foreach (var (m, seed, dir) in runs)
        {
            var adapter = Path.Combine(dir, "adapter");
            var model = Path.Combine(dir, "model");
            models.Add(new EvalModel($"{m.Name}_s{seed}", () => new ModelAnswerer(
                Directory.Exists(adapter) ? LoadedModel.Load(studentDir, adapter) : LoadedModel.Load(model), s.MaxNewTokens)));
        }
        var benches = new List<EvalBench>
        {
            new("in-distribution", "world/test_id.jsonl", w.Id, [], w.Id.Count),
            new("harder", "world/test_hard.jsonl", w.Hard, [], w.Hard.Count),
            new("facts", "world/orig_facts.jsonl", w.Facts, [], w.Facts.Count),
            new("comparisons", "world/orig_compare.jsonl", w.Compare, [], w.Compare.Count),
        };
        return EvalRunner.Run(models, benches, new EvalOptions { BatchSize = 32, Instruction = "", Settings = new JsonObject { ["max_new_tokens"] = s.MaxNewTokens } },
            Path.Combine(o.Out, "eval"), TextWriter.Null, progress, ct);
    }

    // ------------------------------------------------------------------ analyses and report

    /// <summary>PCA shift of the original-knowledge prompts (base vs the seed-0 students of COMPACT, uniform, MoT and the
    /// verbose single teacher) and the information-gain trajectory of one rationale (base vs COMPACT).</summary>
    public static IReadOnlyList<string> RunAnalyses(DemoOptions o, string student, string dataset, WorldFiles w,
        IReadOnlyList<(DemoMethod Method, int Seed, string Dir)> runs, TextWriter log, ProgressHost progress, CancellationToken ct)
    {
        var root = Path.Combine(o.Out, "analysis");
        var prompts = Path.Combine(root, "original_knowledge_prompts.txt");
        AtomicFile.WriteAllText(prompts, string.Concat(w.Facts.Concat(w.Compare).Select(i => i.Question + "\n")));
        string Run0(string name) => runs.First(r => r.Method.Name == name && r.Seed == 0).Dir;
        var shiftDir = Path.Combine(root, "shift");
        if (!File.Exists(Path.Combine(shiftDir, PcaShift.JsonFile)))
        {
            var r = PcaShift.Run(new ShiftOptions
            {
                BaseDir = student, Tuned = new[] { "compact", "uniform", "mot", "single-verbose" }.Select(Run0).ToList(),
                PromptsPath = prompts, OutDir = shiftDir, Components = 10,
            }, TextWriter.Null, progress, ct);
            var last = r.Tuned.Select(t => $"{t.Model.Name} {t.Layers[^1].Shift:0.000}");
            log.WriteLine($"PCA shift at the last layer: {string.Join(", ", last)} → {shiftDir}");
        }
        var miDir = Path.Combine(root, "mi");
        if (!File.Exists(Path.Combine(miDir, MiAnalysis.JsonFile)))
        {
            MiAnalysis.Run(new MiOptions
            {
                ModelDir = student, Adapter = Path.Combine(Run0("compact"), "adapter"), DataPath = dataset, OutDir = miDir, Teacher = "verbose", Limit = 1,
            }, TextWriter.Null);
            log.WriteLine($"Information-gain trajectory, base vs COMPACT → {miDir}");
        }
        return [shiftDir, miDir];
    }

    /// <summary>report.html (self-contained) and report.md: the demo's tables and verdict, then the run, evaluation
    /// and analysis sections of `compact report`.</summary>
    static void WriteReport(DemoOptions o, DemoSummary s, IReadOnlyList<(DemoMethod Method, int Seed, string Dir)> runs, IReadOnlyList<string> analyses)
    {
        var compact0 = runs.First(r => r.Method.Name == "compact" && r.Seed == 0).Dir;
        var blocks = new List<Block>
        {
            new Para(s.Intro),
            new TableBlock("Accuracy (%), mean ± SEM over seeds", s.TableHeaders, s.TableRows),
            new TableBlock("Mean teacher weight α", s.WeightHeaders, s.WeightRows),
            new Para("Verdict. " + s.Verdict),
        };
        var curves = Path.Combine(compact0, "teacher_weights.png");
        if (File.Exists(curves)) blocks.Add(new ImageBlock("COMPACT (seed 0): mean weight of each teacher over training", curves));
        var rest = RunReport.Build([compact0, runs.First(r => r.Method.Name == "uniform" && r.Seed == 0).Dir, Path.Combine(o.Out, "eval"), .. analyses]);
        var doc = new ReportDocument($"Compact demo ({s.Scale})", null,
            [new ReportSection("demo", "Summary", o.Out, blocks) { Anchor = "summary" }, .. rest.Sections], DateTime.Now);
        AtomicFile.WriteAllText(Path.Combine(o.Out, RunReport.HtmlFile), Html.Render(doc));
        AtomicFile.WriteAllText(Path.Combine(o.Out, RunReport.MarkdownFile), MarkdownWriter.Render(doc, o.Out));
    }

    // ------------------------------------------------------------------ summary

    public sealed record MethodRow(string Method, IReadOnlyDictionary<string, (double Mean, double Sem, int Seeds)> Accuracy);

    public sealed record DemoSummary(string Scale, IReadOnlyList<MethodRow> Rows, IReadOnlyDictionary<string, double> TeacherWeightBefore,
        IReadOnlyDictionary<string, double> TeacherWeightDuring, string Verdict, string Markdown, TimeSpan Elapsed)
    {
        public string Intro { get; init; } = "";
        public IReadOnlyList<string> TableHeaders { get; init; } = [];
        public IReadOnlyList<IReadOnlyList<string>> TableRows { get; init; } = [];
        public IReadOnlyList<string> WeightHeaders { get; init; } = [];
        public IReadOnlyList<IReadOnlyList<string>> WeightRows { get; init; } = [];
    }

    static DemoSummary Summarize(DemoOptions o, DemoScale s, string studentDir, IReadOnlyList<(DemoMethod Method, int Seed, string Dir)> runs,
        EvalReport eval, IReadOnlyList<TeacherSummary> before, TimeSpan elapsed)
    {
        var rows = new List<MethodRow>();
        (double, double, int) Stat(IReadOnlyList<double> xs)
        {
            double mean = xs.Average();
            double sem = xs.Count > 1 ? Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Count - 1)) / Math.Sqrt(xs.Count) : double.NaN;
            return (mean, sem, xs.Count);
        }
        rows.Add(new MethodRow("base", Benches.ToDictionary(b => b, b => (eval.Get("base", b)!.Score.Accuracy, double.NaN, 1))));
        foreach (var m in Methods())
            rows.Add(new MethodRow(m.Name, Benches.ToDictionary(b => b,
                b => Stat(runs.Where(r => r.Method == m).Select(r => eval.Get($"{m.Name}_s{r.Seed}", b)!.Score.Accuracy).ToList()))));

        var during = new Dictionary<string, List<double>>();
        foreach (var (_, _, dir) in runs.Where(r => r.Method.Name == "compact"))
            foreach (var (t, pts) in TeacherCurves.Read(dir))
                (during.TryGetValue(t, out var l) ? l : during[t] = new()).AddRange(pts.Select(p => p.Alpha));
        var duringMean = during.ToDictionary(kv => kv.Key, kv => kv.Value.Average());
        var beforeMean = before.ToDictionary(t => t.Teacher, t => t.MeanAlpha);

        // Honest verdict: COMPACT against the best baseline on each test, with the seeds' spread.
        var compact = rows.Single(r => r.Method == "compact");
        var baselines = rows.Where(r => r.Method is not "compact" and not "base" && !r.Method.StartsWith("compact-", StringComparison.Ordinal)).ToList();
        var verdict = new StringBuilder();
        foreach (var b in new[] { "in-distribution", "harder" })
        {
            var best = baselines.OrderByDescending(r => r.Accuracy[b].Mean).First();
            var (cm, cs, _) = compact.Accuracy[b];
            var (bm, bs, _) = best.Accuracy[b];
            string rel = cm > bm ? "beats" : cm < bm ? "trails" : "ties";
            bool clear = Math.Abs(cm - bm) > (double.IsNaN(cs) ? 0 : cs) + (double.IsNaN(bs) ? 0 : bs);
            verdict.Append($"On {b} questions COMPACT ({100 * cm:0.0}%) {rel} the best baseline, {best.Method} ({100 * bm:0.0}%)"
                + (clear ? ". " : ", within the spread over seeds. "));
        }
        var orig = (MethodRow r) => (r.Accuracy["facts"].Mean + r.Accuracy["comparisons"].Mean) / 2;
        verdict.Append(CultureInfo.InvariantCulture, $"Original knowledge (facts and comparisons): base {100 * orig(rows[0]):0.0}%, COMPACT {100 * orig(compact):0.0}%, "
            + $"uniform {100 * orig(rows.Single(r => r.Method == "uniform")):0.0}%.");

        string Cell((double Mean, double Sem, int N) a) => double.IsNaN(a.Sem) ? $"{100 * a.Mean:0.0}" : $"{100 * a.Mean:0.0} ± {100 * a.Sem:0.0}";
        IReadOnlyList<string> headers = ["method", .. Benches, "forgetting (pts)"];
        var tableRows = rows.Select(r => (IReadOnlyList<string>)
            [r.Method, .. Benches.Select(b => Cell(r.Accuracy[b])), r.Method == "base" ? "—" : $"{100 * (orig(r) - orig(rows[0])):+0.0;-0.0;0.0}"]).ToList();
        IReadOnlyList<string> wHeaders = ["teacher", "before training (compact score)", "during COMPACT training"];
        var wRows = beforeMean.Keys.Order().Select(t => (IReadOnlyList<string>)
            [t, beforeMean[t].ToString("0.000", CultureInfo.InvariantCulture), duringMean.TryGetValue(t, out var v) ? v.ToString("0.000", CultureInfo.InvariantCulture) : "—"]).ToList();
        var intro = $"Command: `compact demo{(o.Quick ? " --quick" : "")}{(o.Seed != 0 ? $" --seed {o.Seed}" : "")}` · {Methods().Count} methods × {s.Seeds} seeds · "
            + $"{s.DistillSteps} optimizer steps of {s.GradAccum} questions per run · {elapsed:mm\\:ss} on {Environment.ProcessorCount} cores. "
            + $"Accuracy on each test split, mean ± SEM over seeds (the base student has one value). In-distribution: {s.MinSteps}–{s.MaxSteps}-step word problems like the "
            + $"training set; harder: {s.HardMinSteps}–{s.HardMaxSteps} steps; facts and comparisons: the student's original knowledge, never shown during distillation, so their "
            + "change (forgetting, in points against the base student) measures what distillation erased.";
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Compact demo ({s.Name})\n");
        md.AppendLine(intro + "\n");
        md.Append(Tables.Markdown(headers, tableRows));
        md.AppendLine();
        md.AppendLine("Mean teacher weight α: before training, as the pre-trained student scores each teacher, and during COMPACT training (all steps and seeds).\n");
        md.Append(Tables.Markdown(wHeaders, wRows));
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"**Verdict.** {verdict}");
        var summary = new DemoSummary(s.Name, rows, beforeMean, duringMean, verdict.ToString(), md.ToString(), elapsed)
        {
            Intro = intro, TableHeaders = headers, TableRows = tableRows, WeightHeaders = wHeaders, WeightRows = wRows,
        };
        AtomicFile.WriteAllText(Path.Combine(o.Out, ResultsFile), ToJson(summary).ToJsonString(Compact.Util.Jsonl.Indented));
        return summary;
    }

    public static JsonObject ToJson(DemoSummary s) => new()
    {
        ["scale"] = s.Scale,
        ["elapsed_s"] = Math.Round(s.Elapsed.TotalSeconds),
        ["accuracy"] = new JsonObject(s.Rows.Select(r => KeyValuePair.Create(r.Method, (JsonNode?)new JsonObject(r.Accuracy.Select(a =>
            KeyValuePair.Create(a.Key, (JsonNode?)new JsonObject { ["mean"] = Math.Round(a.Value.Mean, 4), ["sem"] = double.IsNaN(a.Value.Sem) ? null : Math.Round(a.Value.Sem, 4), ["seeds"] = a.Value.Seeds })))))),
        ["teacher_weight_before"] = new JsonObject(s.TeacherWeightBefore.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Math.Round(kv.Value, 4)))),
        ["teacher_weight_during"] = new JsonObject(s.TeacherWeightDuring.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Math.Round(kv.Value, 4)))),
        ["verdict"] = s.Verdict,
    };
}
