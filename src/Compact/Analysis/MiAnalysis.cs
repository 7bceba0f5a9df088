using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.Distill;
using Compact.Generation;
using Compact.IO;
using Compact.Training;
using Compact.Util;

namespace Compact.Analysis;

public sealed record MiOptions
{
    public required string ModelDir { get; init; }
    /// <summary>The tuned model: an adapter on ModelDir, or a --tuned entry (<see cref="ModelSpec.Resolve"/>); neither: the base alone.</summary>
    public string? Adapter { get; init; }
    public string? Tuned { get; init; }
    public required string DataPath { get; init; }
    public required string OutDir { get; init; }
    /// <summary>The rationale to follow (default: each question's first).</summary>
    public string? Teacher { get; init; }
    /// <summary>Only this question id (default: the first Limit questions).</summary>
    public string? QuestionId { get; init; }
    public int Limit { get; init; } = 1;
    public CompactOptions Compact { get; init; } = new();
    public AnswerSuffix Suffix { get; init; } = new();
    public int MaxSeqLen { get; init; } = 2560;
    public string? System { get; init; }
    public string Device { get; init; } = "cpu";
    public string DType { get; init; } = "float32";
}

/// <summary>One model's trajectory on one question.</summary>
public sealed record MiCurve(string Model, MiTrajectory Trajectory);

public sealed record MiQuestion(string Id, string Teacher, string Answer, string Plot, List<MiCurve> Curves);

/// <summary>`compact analyze mi`: the information-gain trajectory l_t (METHOD: MI adaptability, probe estimator by
/// default) along a teacher's reasoning chain, for the base and the tuned model, with the thinking tokens marked (the
/// paper's Figure 9). Models are loaded one at a time.</summary>
public static class MiAnalysis
{
    public const string JsonFile = "mi.json";

    public static List<MiQuestion> Run(MiOptions o, TextWriter output)
    {
        if (o.Adapter is not null && o.Tuned is not null) throw new CompactException("give the tuned model by --adapter or by --tuned, not both.");
        if (o.Limit < 1) throw new CompactException("--limit must be at least 1.");
        var (all, _) = MultiTeacherData.Load(o.DataPath);
        var questions = o.QuestionId is not null
            ? all.Where(q => q.Id == o.QuestionId).ToList() is { Count: > 0 } one ? one
                : throw new CompactException($"--question {o.QuestionId} is not in {o.DataPath}.")
            : all.Where(q => o.Teacher is null || q.Rationales.Any(r => r.Teacher == o.Teacher)).Take(o.Limit).ToList();
        if (questions.Count == 0)
            throw new CompactException($"--teacher {o.Teacher} has no rationale in {o.DataPath}; teachers: {string.Join(", ", MultiTeacherData.Teachers(all))}.");
        var chosen = questions.Select(q => (q, teacher: o.Teacher ?? q.Rationales[0].Teacher)).ToList();
        foreach (var (q, t) in chosen)
            if (q.Rationales.All(r => r.Teacher != t)) throw new CompactException($"question {q.Id} has no rationale by {t}.");

        var models = new List<ModelSpec> { new(Tag(ModelSpec.NameOf(o.ModelDir), "base"), o.ModelDir, null) };
        if (o.Adapter is not null) models.Add(new ModelSpec(Tag(ModelSpec.NameOf(o.Adapter), "tuned"), o.ModelDir, o.Adapter));
        else if (o.Tuned is not null) { var t = ModelSpec.Resolve(o.Tuned, o.ModelDir); models.Add(t with { Name = Tag(t.Name, "tuned") }); }

        var curves = chosen.Select(_ => new List<MiCurve>()).ToList();
        foreach (var spec in models)
        {
            using var m = LoadedModel.Load(spec.ModelDir, spec.AdapterDir, o.Device, o.DType);
            var objective = new CompactObjective(m.Model, m.Tokenizer, o.Compact);
            for (int i = 0; i < chosen.Count; i++)
            {
                var (q, teacher) = chosen[i];
                var qb = BranchBuilder.Build(m.Chat, q, o.Suffix, o.MaxSeqLen, TruncationMode.TruncateStart, o.System, r => r.Teacher == teacher);
                if (qb.K == 0) throw new CompactException($"question {q.Id}: the {teacher} rationale does not fit --max-seq-len {o.MaxSeqLen}.");
                curves[i].Add(new MiCurve(spec.Name, objective.Trajectory(qb.Branches[0], qb.ProbeIds)));
            }
        }

        Directory.CreateDirectory(o.OutDir);
        var result = new List<MiQuestion>();
        for (int i = 0; i < chosen.Count; i++)
        {
            var (q, teacher) = chosen[i];
            var png = i == 0 ? "mi.png" : $"mi_{i + 1}.png";
            Plot(Path.Combine(o.OutDir, png), $"Information gain along {teacher}'s chain, question {q.Id}", curves[i], o.Compact.Estimator);
            result.Add(new MiQuestion(q.Id, teacher, q.Answer, png, curves[i]));
        }
        AtomicFile.WriteAllText(Path.Combine(o.OutDir, JsonFile), ToJson(result, o).ToJsonString(Compact.Util.Jsonl.Indented));
        return result;
    }

    static string Tag(string name, string role) => name == role ? name : $"{name} ({role})";

    /// <summary>Runs of consecutive thinking tokens: (first index, text of the run).</summary>
    public static List<(int Index, string Text)> ThinkingSpans(MiTrajectory t)
    {
        var spans = new List<(int, string)>();
        for (int i = 0; i < t.Thinking.Length; i++)
        {
            if (!t.Thinking[i] || (i > 0 && t.Thinking[i - 1])) continue;
            int j = i;
            while (j + 1 < t.Thinking.Length && t.Thinking[j + 1]) j++;
            spans.Add((i, string.Concat(t.Pieces.Skip(i).Take(j - i + 1)).Trim()));
        }
        return spans;
    }

    static void Plot(string path, string title, List<MiCurve> curves, MiEstimator estimator)
    {
        var first = curves[0].Trajectory;
        Plots.Lines(path, title, "rationale token", estimator == MiEstimator.Exact ? "l_t = mean log P(answer | chain up to t)" : "l_t = mean_j log softmax(W_U h_t)[y_j]",
            curves.Select(c => new Plots.Series(c.Model, c.Trajectory.Positions.Select(x => (double)x).ToList(), c.Trajectory.L)),
            width: 1100, height: 500, markers: ThinkingSpans(first).Select(s => ((double)s.Index, s.Text)).ToList());
    }

    static JsonArray Nums(IEnumerable<double> xs) => new(xs.Select(x => (JsonNode)Math.Round(x, 6)).ToArray());

    public static JsonObject ToJson(List<MiQuestion> qs, MiOptions o) => new()
    {
        ["data"] = Path.GetFullPath(o.DataPath),
        ["estimator"] = o.Compact.Estimator.ToString().ToLowerInvariant(),
        ["thinking_words"] = new JsonArray(o.Compact.ThinkingWords.Select(w => (JsonNode)w).ToArray()),
        ["questions"] = new JsonArray(qs.Select(q => (JsonNode)new JsonObject
        {
            ["id"] = q.Id, ["teacher"] = q.Teacher, ["answer"] = q.Answer, ["plot"] = q.Plot,
            ["models"] = new JsonArray(q.Curves.Select(c => (JsonNode)new JsonObject
            {
                ["name"] = c.Model,
                ["s_mi"] = Math.Round(c.Trajectory.Gain, 8),
                ["positions"] = new JsonArray(c.Trajectory.Positions.Select(x => (JsonNode)x).ToArray()),
                ["l"] = Nums(c.Trajectory.L),
                ["thinking"] = new JsonArray(ThinkingSpans(c.Trajectory).Select(s => (JsonNode)new JsonObject { ["index"] = s.Index, ["text"] = s.Text }).ToArray()),
                ["tokens"] = new JsonArray(c.Trajectory.Pieces.Select(x => (JsonNode)x).ToArray()),
            }).ToArray()),
        }).ToArray()),
    };

    public static string[] Headers => ["question", "teacher", "model", "tokens", "l_first", "l_last", "S_MI"];

    public static IEnumerable<string[]> Rows(List<MiQuestion> qs) => qs.SelectMany(q => q.Curves.Select(c => new[]
    {
        q.Id, q.Teacher, c.Model, c.Trajectory.Pieces.Count.ToString(CultureInfo.InvariantCulture), $"{c.Trajectory.L[0]:0.000}", $"{c.Trajectory.L[^1]:0.000}", $"{c.Trajectory.Gain:0.00000}",
    }));
}
