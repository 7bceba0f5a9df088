using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.IO;

namespace Compact.Bench;

/// <summary>`--name value` options of a benchmark program, with defaults; an unknown name is an error.</summary>
public sealed class BenchArgs
{
    readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public BenchArgs(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
                throw new CompactException($"expected --name value pairs, got '{args[i]}'.");
            _values[args[i][2..]] = args[++i];
        }
    }

    public string Get(string name, string fallback) { _used.Add(name); return _values.GetValueOrDefault(name, fallback); }

    public int Get(string name, int fallback) => int.Parse(Get(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

    /// <summary>Call after reading every option: fails on names no Get asked for.</summary>
    public void RequireAllUsed()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new CompactException($"unknown option(s) --{string.Join(", --", unknown)}; valid: --{string.Join(", --", _used)}.");
    }
}

public static class BenchUtil
{
    /// <summary>The folder holding Compact.slnx, searched upwards from the working directory, then from the binaries.</summary>
    public static string RepoRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Compact.slnx"))) return d.FullName;
        throw new CompactException("cannot find the repository (Compact.slnx) above the working directory; run from inside the repository.");
    }

    /// <summary>shared/benchmarks: $COMPACT_SHARED (the shared folder or its benchmarks folder), else beside the repository.</summary>
    public static string SharedBenchmarks()
    {
        var env = Environment.GetEnvironmentVariable("COMPACT_SHARED");
        var candidates = string.IsNullOrWhiteSpace(env)
            ? [Path.Combine(RepoRoot(), "shared", "benchmarks"), Path.Combine(RepoRoot(), "..", "shared", "benchmarks"),
               Path.Combine(RepoRoot(), "data", "benchmarks")]
            : new[] { Path.Combine(env, "benchmarks"), env };
        return candidates.Select(Path.GetFullPath).FirstOrDefault(c => File.Exists(Path.Combine(c, "gsm8k_test.jsonl")))
            ?? throw new CompactException($"no shared/benchmarks folder with gsm8k_test.jsonl (looked in {string.Join(", ", candidates)}); set COMPACT_SHARED to the shared folder.");
    }

    /// <summary>Writes bench/results/NAME.json (indented) and returns its path.</summary>
    public static string WriteResult(string name, JsonObject result)
    {
        var path = Path.Combine(RepoRoot(), "bench", "results", $"{name}.json");
        AtomicFile.WriteAllText(path, result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return path;
    }
}
