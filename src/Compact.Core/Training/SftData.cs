using System.Text.Json.Nodes;
using Compact.Tokenization;
using Compact.Util;

namespace Compact.Training;

public enum TruncationMode { Drop, TruncateStart }

/// <summary>An encoded training sequence and where it came from.</summary>
public sealed record SftExample(int Line, EncodedExample Encoded, bool Truncated);

/// <summary>What loading a data file found: lines read, examples kept, and every problem by file:line.</summary>
public sealed record DataReport(string Path, int Lines, int Used, int Truncated, int Dropped, IReadOnlyList<string> Problems)
{
    public string Summary =>
        $"{Path}: {Lines} lines, {Used} examples used, {Truncated} truncated from the rationale's start, {Dropped} dropped as too long, {Problems.Count} bad lines skipped";
}

public static class SftData
{
    /// <summary>Fits an encoded example into maxSeqLen: unchanged when it fits; otherwise (TruncateStart) drops tokens
    /// from the start of the assistant content so the end (the final answer) survives, or (Drop) gives null.
    /// Also null when even the prompt and the closing tokens do not fit.</summary>
    public static (EncodedExample? Example, bool Truncated, string? Why) Fit(EncodedExample e, int maxSeqLen, TruncationMode mode)
    {
        int len = e.Ids.Count;
        if (len <= maxSeqLen) return (e, false, null);
        int fixedPart = e.AssistantStart + (len - e.AssistantEnd);
        if (fixedPart + 1 > maxSeqLen)
            return (null, false, $"does not fit the context: the prompt and closing tokens alone are {fixedPart} tokens, --max-seq-len is {maxSeqLen}");
        if (mode == TruncationMode.Drop) return (null, false, null);
        int excess = len - maxSeqLen;
        var ids = e.Ids.Take(e.AssistantStart).Concat(e.Ids.Skip(e.AssistantStart + excess)).ToList();
        return (new EncodedExample(ids, e.AssistantStart, e.AssistantEnd - excess, e.TargetEnd - excess), true, null);
    }

    /// <summary>Reads JSONL {"question", "target"[, "system"]}: each line is checked (valid JSON, both fields
    /// non-empty strings, fits the context). Bad lines stop loading with file:line unless skipBad is set, in
    /// which case they are skipped and counted.</summary>
    public static (List<SftExample> Examples, DataReport Report) Load(string path, ChatFormat format, int maxSeqLen, TruncationMode mode,
        bool skipBad, string? system = null)
    {
        var problems = new List<string>();
        var list = new List<SftExample>();
        int lines = 0, truncated = 0, dropped = 0;
        foreach (var (line, o) in Jsonl.Read(path, (n, why) => { problems.Add($"{path}:{n}: {why}"); lines = n; return true; }))
        {
            lines = line;
            string? q = Str(o, "question"), t = Str(o, "target");
            if (q is null || t is null)
            {
                problems.Add($"{path}:{line}: missing string field \"{(q is null ? "question" : "target")}\"");
                continue;
            }
            if (t.Trim().Length == 0) { problems.Add($"{path}:{line}: empty target"); continue; }
            if (o["system"] is { } sys && Str(o, "system") is null) { problems.Add($"{path}:{line}: \"system\" must be a string (got {sys.ToJsonString()})"); continue; }
            var enc = format.EncodeExample(Str(o, "system") ?? system, q, t);
            var (fit, wasCut, why) = Fit(enc, maxSeqLen, mode);
            if (why is not null) { problems.Add($"{path}:{line}: {why}"); continue; }
            if (fit is null) { dropped++; continue; }
            if (wasCut) truncated++;
            list.Add(new SftExample(line, fit, wasCut));
        }
        if (problems.Count > 0 && !skipBad)
            throw new CompactException($"{problems[0]}{(problems.Count > 1 ? $" (and {problems.Count - 1} more bad lines)" : "")}; fix the data or pass --skip-bad-lines to skip them.");
        if (list.Count == 0)
            throw new CompactException($"{path}: no usable examples ({lines} lines, {dropped} too long, {problems.Count} bad).");
        return (list, new DataReport(path, lines, list.Count, truncated, dropped, problems));
    }

    static string? Str(JsonObject o, string key) => o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
