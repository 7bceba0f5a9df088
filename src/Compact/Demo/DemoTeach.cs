using System.Globalization;
using System.Text.Json.Nodes;
using Compact.Answers;
using Compact.Benchmarks;
using Compact.Distill;
using Compact.IO;
using Compact.Serving;
using Compact.Teach;
using Compact.Util;

namespace Compact.Demo;

/// <summary>One rationale of the dataset with its ground truth (teach/ground_truth.jsonl).</summary>
public sealed record TruthRecord(string QuestionId, string Teacher, RationaleTruth Truth)
{
    public JsonObject ToJson() => new()
    {
        ["id"] = QuestionId, ["teacher"] = Teacher, ["flaw"] = Truth.Flaw, ["step"] = Truth.Step, ["shown"] = Truth.Shown,
        ["correct"] = Truth.Correct, ["chars"] = Truth.Chars,
    };

    public static TruthRecord FromJson(JsonObject o) => new(o["id"]!.GetValue<string>(), o["teacher"]!.GetValue<string>(), new RationaleTruth(
        o["flaw"]!.GetValue<string>(), o["step"]?.GetValue<int>(), o["shown"]?.GetValue<int>(), o["correct"]?.GetValue<int>(), o["chars"]!.GetValue<int>()));
}

/// <summary>Stage 3: the four scripted teachers served over HTTP on loopback, their rationales collected and checked
/// by `teach` (which resumes like any teach run), and the ground truth of every kept rationale recorded.</summary>
public static class DemoTeach
{
    public const string TruthFile = "ground_truth.jsonl";

    /// <summary>Returns the dataset path; teach/ground_truth.jsonl holds one <see cref="TruthRecord"/> per rationale.</summary>
    public static async Task<string> RunAsync(string outDir, string trainPath, TextWriter log, ProgressHost progress, CancellationToken ct)
    {
        var dir = Path.Combine(outDir, "teach");
        Directory.CreateDirectory(dir);
        var teachers = ScriptedTeacher.All();
        var servers = new List<OpenAiServer>();
        var dataset = Path.Combine(dir, "dataset.jsonl");
        var questions = QuestionFiles.Load(trainPath, "jsonl", AnswerKind.Numeric);
        List<TeacherSpec> specs;
        try
        {
            foreach (var t in teachers)
            {
                var srv = new OpenAiServer(t, new ServerOptions { Port = 0, MaxQueue = 64 });
                await srv.StartAsync();
                servers.Add(srv);
            }
            specs = servers.Select(srv => new TeacherSpec
            {
                Name = srv.Backend.ModelId, BaseUrl = $"{srv.BaseAddress}v1", Model = srv.Backend.ModelId, Concurrency = 4, TimeoutSeconds = 30,
            }).ToList();
            var s = await TeachRunner.RunAsync(questions, specs, new TeachOptions { Out = dataset }, progress, log, ct);
            Tables.Write(log, "Teachers", ["teacher", "requests", "correct", "failed"],
                s.Teachers.Select(t => (IReadOnlyList<string>)[t.Teacher, t.Total.ToString(CultureInfo.InvariantCulture),
                    t.Correct.ToString(CultureInfo.InvariantCulture), t.Failed.ToString(CultureInfo.InvariantCulture)]));
        }
        finally
        {
            foreach (var srv in servers) await srv.DisposeAsync();
        }
        var (qs, _) = MultiTeacherData.Load(dataset);
        var truths = GroundTruth(qs, questions, teachers, specs);
        AtomicFile.WriteAllText(Path.Combine(dir, TruthFile), string.Concat(truths.Select(t => t.ToJson().ToJsonString(Jsonl.Options) + "\n")));
        log.WriteLine($"{qs.Count} questions with {qs.Sum(q => q.Rationales.Count)} correct rationales → {dataset}; ground truth: "
            + string.Join(", ", truths.GroupBy(t => t.Truth.Flaw).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}")));
        return dataset;
    }

    /// <summary>Each kept rationale's ground truth, recovered by asking its teacher again with the prompt and seed the
    /// teach step sent (replies are pure functions of them); a rationale that the replay does not reproduce is an
    /// error, so the truth never silently describes another text.</summary>
    public static List<TruthRecord> GroundTruth(IReadOnlyList<MtQuestion> dataset, IReadOnlyList<BenchItem> questions,
        IReadOnlyList<ScriptedTeacher> teachers, IReadOnlyList<TeacherSpec> specs)
    {
        var items = questions.ToDictionary(q => q.Id);
        var result = new List<TruthRecord>();
        foreach (var q in dataset)
            foreach (var r in q.Rationales)
            {
                var teacher = teachers.Single(t => t.ModelId == r.Teacher);
                var reply = teacher.Reply(specs.Single(s => s.Name == r.Teacher).Render(items[q.Id]), 0);
                if (reply.Text.Trim() != r.Text.Trim())
                    throw new CompactException($"teach/dataset.jsonl: {r.Teacher}'s rationale for {q.Id} is not the scripted teacher's reply; delete the demo's teach folder and rerun.");
                result.Add(new TruthRecord(q.Id, r.Teacher, reply.Truth));
            }
        return result;
    }

    public static List<TruthRecord> ReadTruth(string outDir) =>
        Jsonl.Read(Path.Combine(outDir, "teach", TruthFile)).Select(x => TruthRecord.FromJson(x.Obj)).ToList();
}
