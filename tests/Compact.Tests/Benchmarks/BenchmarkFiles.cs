using System.Text.Json;
using Compact.Benchmarks;

namespace Compact.Tests.Benchmarks;

/// <summary>The public benchmark files in <c>shared/benchmarks/</c>, next to the repository (the folder holding
/// Compact.slnx). Found from $COMPACT_SHARED (the shared folder or its benchmarks folder), else by walking up
/// from the test binaries. Parsed once per test run.</summary>
internal static class BenchmarkFiles
{
    private static readonly Lazy<string> Folder = new(Locate);

    public static string BenchmarksDir => Folder.Value;

    public static string PathOf(string file) => Path.Combine(BenchmarksDir, file);

    private static readonly Lazy<IReadOnlyList<BenchItem>> Gsm8kItems = new(() => Gsm8kReader.Read(PathOf("gsm8k_test.jsonl")));
    private static readonly Lazy<IReadOnlyList<BenchItem>> SvampItems = new(() => SvampReader.Read(PathOf("svamp.json")));
    private static readonly Lazy<IReadOnlyList<BenchItem>> Math500Items = new(() => Math500Reader.Read(PathOf("math500_test.jsonl")));
    private static readonly Lazy<IReadOnlyList<CommitteeItem>> CommitteeItems = new(ReadCommittee);

    public static IReadOnlyList<BenchItem> Gsm8k => Gsm8kItems.Value;
    public static IReadOnlyList<BenchItem> Svamp => SvampItems.Value;
    public static IReadOnlyList<BenchItem> Math500 => Math500Items.Value;

    /// <summary>committee_svamp_multiteacher_rationales.json: per question, three teachers' rationales and the
    /// subset the Learn-from-Committee authors marked correct.</summary>
    public static IReadOnlyList<CommitteeItem> Committee => CommitteeItems.Value;

    internal sealed record TeacherRationale(string Teacher, string Text, bool MarkedCorrect);

    internal sealed record CommitteeItem(int Id, string Question, string Gold, IReadOnlyList<TeacherRationale> Rationales);

    private static IReadOnlyList<CommitteeItem> ReadCommittee()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(PathOf("committee_svamp_multiteacher_rationales.json")));
        var items = new List<CommitteeItem>();
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            var correct = e.GetProperty("correct_rationale").EnumerateArray().Select(x => x.GetString()!).ToHashSet();
            var rationales = new[] { "gpt", "gemini", "mistral" }
                .Select(t => e.GetProperty($"{t}_rationale")[0].GetString()!)
                .Zip(["gpt", "gemini", "mistral"], (text, t) => new TeacherRationale(t, text, correct.Contains(text)))
                .ToArray();
            items.Add(new CommitteeItem(e.GetProperty("id").GetInt32(), e.GetProperty("question").GetString()!,
                e.GetProperty("gold_answer").GetString()!, rationales));
        }
        return items;
    }

    private static string Locate()
    {
        var env = Environment.GetEnvironmentVariable("COMPACT_SHARED");
        if (!string.IsNullOrWhiteSpace(env))
        {
            foreach (var candidate in new[] { Path.Combine(env, "benchmarks"), env })
                if (File.Exists(Path.Combine(candidate, "gsm8k_test.jsonl"))) return candidate;
            throw new DirectoryNotFoundException(
                $"COMPACT_SHARED={env} holds no gsm8k_test.jsonl (nor does its benchmarks/ folder); point it at the shared folder.");
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var direct = Path.Combine(dir.FullName, "shared", "benchmarks");
            if (Directory.Exists(direct)) return direct;
            if (File.Exists(Path.Combine(dir.FullName, "Compact.slnx")))
            {
                var beside = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "benchmarks"));
                if (Directory.Exists(beside)) return beside;
                // A clone without the steering repo beside it: the copies committed with the tests.
                var vendored = Path.Combine(dir.FullName, "data", "benchmarks");
                if (Directory.Exists(vendored)) return vendored;
            }
        }
        throw new DirectoryNotFoundException(
            $"No shared/benchmarks folder above {AppContext.BaseDirectory} or beside the repository; set COMPACT_SHARED to the shared folder.");
    }
}
