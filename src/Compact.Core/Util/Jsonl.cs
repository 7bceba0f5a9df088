using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Compact.Util;

/// <summary>JSON Lines helpers: an append-only writer that flushes every line (a crash loses at most the line
/// being written), and a reader that reports file and line number for bad lines.</summary>
public sealed class JsonlWriter : IDisposable
{
    readonly FileStream _fs;

    public string Path { get; }

    /// <summary>Opens for appending. A last line without its newline (a crash mid-write) is cut off first.</summary>
    public JsonlWriter(string path)
    {
        Path = path;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        Jsonl.RepairTail(path);
        _fs = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
    }

    public void Write(JsonNode node) => WriteLine(node.ToJsonString(Jsonl.Options));

    /// <summary>Appends one line of JSON text (a serialized record) and flushes.</summary>
    public void WriteLine(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json + "\n");
        lock (_fs)
        {
            _fs.Write(bytes);
            _fs.Flush(flushToDisk: false);
        }
    }

    public void Dispose() { _fs.Flush(true); _fs.Dispose(); }
}

public static class Jsonl
{
    /// <summary>Options for files people read: UTF-8 text as it is ("café", "2+3", "<think>"), not \u00E9 / \u002B / \u003C
    /// escapes. Only what JSON requires is escaped (quotes, backslashes, control characters), so the output stays valid JSON
    /// for every reader; it is not meant to be pasted into HTML.</summary>
    public static readonly JsonSerializerOptions Options = new() { WriteIndented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The same, indented (config and summary files).</summary>
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Cuts an unterminated last line (the trace of an interrupted write).</summary>
    public static void RepairTail(string path)
    {
        if (!File.Exists(path)) return;
        using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        if (fs.Length == 0) return;
        fs.Seek(-1, SeekOrigin.End);
        if (fs.ReadByte() == '\n') return;
        long pos = fs.Length - 1;
        var buf = new byte[1];
        while (pos > 0)
        {
            fs.Seek(pos - 1, SeekOrigin.Begin);
            fs.ReadExactly(buf);
            if (buf[0] == '\n') break;
            pos--;
        }
        fs.SetLength(pos);
    }

    /// <summary>Reads objects with their 1-based line numbers; blank lines are skipped. A line that is not a JSON
    /// object raises an error naming the file and line, unless onBad handles it (return true to skip).</summary>
    public static IEnumerable<(int Line, JsonObject Obj)> Read(string path, Func<int, string, bool>? onBad = null)
    {
        if (!File.Exists(path)) throw new CompactException($"{path}: file not found.");
        int n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonObject? o = null;
            string? why = null;
            try { o = JsonNode.Parse(line) as JsonObject; if (o is null) why = "not a JSON object"; }
            catch (JsonException e) { why = $"not valid JSON ({e.Message.Split('.')[0]})"; }
            if (o is null)
            {
                if (onBad?.Invoke(n, why!) == true) continue;
                throw new CompactException($"{path}:{n}: {why}.");
            }
            yield return (n, o);
        }
    }
}
