using System.CommandLine;
using Compact.Analysis;
using Compact.Distill;
using Compact.Models;
using Compact.Util;

namespace Compact.Cli.Commands;

/// <summary>`compact analyze shift|mi`: the paper's forgetting and information-gain analyses.</summary>
public static class AnalyzeCommand
{
    public static Command Create()
    {
        var c = new Command("analyze", "Analyses of a distilled student against its base: PCA shift per layer (forgetting) and the information-gain trajectory.");
        c.Add(ShiftVerb.Create());
        c.Add(MiVerb.Create());
        return c;
    }

    public static class ShiftVerb
    {
        static readonly Option<string> Base = new("--base") { Description = "The original student: a Hugging Face model folder.", Required = true };
        static readonly Option<string[]> Tuned = new("--tuned")
        {
            Description = "Tuned models, comma-separated or repeated: a model folder, an adapter folder (applied on --base), a run folder with adapter/ or model/, or MODEL+ADAPTER.",
            Required = true, AllowMultipleArgumentsPerToken = true,
        };
        static readonly Option<string> PromptsFile = new("--prompts")
        {
            Description = "Prompts: text lines, JSONL with a \"question\"/\"prompt\"/\"problem\"/\"text\"/\"input\" field, or a JSON list of those.", Required = true,
        };
        static readonly Option<string> Out = Shared.Out("Folder for shift.json, shift.csv, shift.png and pca_layerL.png.");
        static readonly Option<int> Components = new("--components") { Description = "Principal components of the base kept per layer (at most prompts − 1).", DefaultValueFactory = _ => 10 };
        static readonly Option<string> Pool = new("--pool") { Description = "One vector per prompt and layer: mean (over the prompt's tokens) or last (the last prompt token).", DefaultValueFactory = _ => "mean" };
        static readonly Option<bool> PlainText = new("--plain") { Description = "Feed the prompts as plain text (with BOS) instead of a chat user turn." };
        static readonly Option<string?> System_ = new("--system") { Description = "System message of the chat prompt." };
        static readonly Option<int?> Limit = new("--limit") { Description = "Use only the first N prompts." };
        static readonly Option<int> MaxTokens = new("--max-tokens") { Description = "Cut longer prompts to their first N tokens.", DefaultValueFactory = _ => 1024 };
        static readonly Option<int> BatchSize = new("--batch-size") { Description = "Prompts per forward pass.", DefaultValueFactory = _ => 8 };
        static readonly Option<int[]> ScatterLayers = new("--scatter-layers") { Description = "Layers to draw the first-two-components scatter for (default: the middle and the last).", AllowMultipleArgumentsPerToken = true };

        public static Command Create()
        {
            var c = new Command("shift", "PCA shift per layer: how far each tuned model's hidden-state centroid moved from the base's, on the base's principal components.")
            {
                Base, Tuned, PromptsFile, Out, Components, Pool, PlainText, System_, Limit, MaxTokens, BatchSize, ScatterLayers, Shared.Device, Shared.DType,
            };
            c.SetAction(p => Run(new ShiftOptions
            {
                BaseDir = p.GetValue(Base)!,
                Tuned = p.GetValue(Tuned)!.SelectMany(t => t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList(),
                PromptsPath = p.GetValue(PromptsFile)!,
                OutDir = p.GetValue(Out)!,
                Components = p.GetValue(Components),
                Pooling = LayerStates.ParsePooling(p.GetValue(Pool)!),
                Chat = !p.GetValue(PlainText),
                System = p.GetValue(System_),
                Limit = p.GetValue(Limit),
                MaxTokens = p.GetValue(MaxTokens),
                BatchSize = p.GetValue(BatchSize),
                ScatterLayers = p.GetValue(ScatterLayers) is { Length: > 0 } sl ? sl : null,
                Device = p.GetValue(Shared.Device)!,
                DType = p.GetValue(Shared.DType)!,
            }, p.InvocationConfiguration.Output));
            return c;
        }

        public static int Run(ShiftOptions o, TextWriter output)
        {
            Devices.ConfigureThreads();
            var r = PcaShift.Run(o, output, new ProgressHost(output));
            var (headers, rows) = PcaShift.Table(r);
            Tables.Write(output, $"PCA shift from {r.Base.Name}", headers, rows);
            output.WriteLine("(layer 0 = embeddings; in brackets: the shift in units of the base's spread on those components)");
            output.WriteLine($"PCA shift of {r.Tuned.Count} model(s) on {r.Prompts} prompts, {r.Components} components → {o.OutDir} "
                + $"({PcaShift.JsonFile}, {PcaShift.CsvFile}, {PcaShift.PlotFile}{string.Concat(r.Scatter.Select(s => $", pca_layer{s.Layer}.png"))})");
            return 0;
        }
    }

    public static class MiVerb
    {
        static readonly Option<string> Model = Shared.Model();
        static readonly Option<string?> Tuned = new("--tuned") { Description = "The tuned model instead of --adapter: a model folder, an adapter folder, a run folder, or MODEL+ADAPTER." };
        static readonly Option<string> Data = new("--data") { Description = "Multi-teacher dataset (JSONL, or the authors' JSON list).", Required = true };
        static readonly Option<string> Out = Shared.Out("Folder for mi.png (mi_N.png for further questions) and mi.json.");
        static readonly Option<string?> Teacher = new("--teacher") { Description = "Whose rationale to follow (default: each question's first)." };
        static readonly Option<string?> Question = new("--question") { Description = "The id of the question to plot (default: the first --limit questions)." };
        static readonly Option<int> Limit = new("--limit") { Description = "Number of questions, one plot each.", DefaultValueFactory = _ => 1 };
        static readonly Option<string> Estimator = new("--estimator") { Description = "l_t estimator: probe (log softmax(W_U h_t) at the answer tokens) or exact (teacher-forced answer after every position).", DefaultValueFactory = _ => "probe" };
        static readonly Option<int> ExactStride = new("--exact-stride") { Description = "exact estimator: every s-th rationale position.", DefaultValueFactory = _ => 1 };
        static readonly Option<string[]> Thinking = new("--thinking-words") { Description = "Thinking words and phrases to mark (default: docs/METHOD.md's list).", AllowMultipleArgumentsPerToken = true };
        static readonly Option<string> Suffix = new("--answer-suffix") { Description = "Text every target ends with; {answer} is the gold answer.", DefaultValueFactory = _ => AnswerSuffix.Default };
        static readonly Option<int> MaxSeqLen = new("--max-seq-len") { Description = "Longest branch in tokens (longer rationales lose their start).", DefaultValueFactory = _ => 2560 };
        static readonly Option<string?> System_ = new("--system") { Description = "System message of the chat prompt." };

        public static Command Create()
        {
            var c = new Command("mi", "Information-gain trajectory l_t along a reasoning chain, base vs tuned, with the thinking tokens marked (the paper's Figure 9).")
            {
                Model, Shared.Adapter, Tuned, Data, Out, Teacher, Question, Limit, Estimator, ExactStride, Thinking, Suffix, MaxSeqLen, System_, Shared.Device, Shared.DType,
            };
            c.SetAction(p =>
            {
                var est = CompactOptions.ParseEstimator(p.GetValue(Estimator)!);
                if (est == MiEstimator.Reference) throw new CompactException("--estimator reference has no per-position trajectory; use probe or exact.");
                var words = p.GetValue(Thinking);
                return Run(new MiOptions
                {
                    ModelDir = p.GetValue(Model)!,
                    Adapter = p.GetValue(Shared.Adapter),
                    Tuned = p.GetValue(Tuned),
                    DataPath = p.GetValue(Data)!,
                    OutDir = p.GetValue(Out)!,
                    Teacher = p.GetValue(Teacher),
                    QuestionId = p.GetValue(Question),
                    Limit = p.GetValue(Limit),
                    Compact = new CompactOptions
                    {
                        Estimator = est,
                        ExactStride = Math.Max(1, p.GetValue(ExactStride)),
                        ThinkingWords = words is { Length: > 0 } ? words : Compatibility.DefaultThinkingWords,
                    },
                    Suffix = new AnswerSuffix(p.GetValue(Suffix)!),
                    MaxSeqLen = p.GetValue(MaxSeqLen),
                    System = p.GetValue(System_),
                    Device = p.GetValue(Shared.Device)!,
                    DType = p.GetValue(Shared.DType)!,
                }, p.InvocationConfiguration.Output);
            });
            return c;
        }

        public static int Run(MiOptions o, TextWriter output)
        {
            Devices.ConfigureThreads();
            var r = MiAnalysis.Run(o, output);
            Tables.Write(output, "Information gain along the chain", MiAnalysis.Headers, MiAnalysis.Rows(r));
            output.WriteLine($"MI trajectory of {r.Count} question(s) → {o.OutDir} ({MiAnalysis.JsonFile}, {string.Join(", ", r.Select(q => q.Plot))})");
            return 0;
        }
    }
}
