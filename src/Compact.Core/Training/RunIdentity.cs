using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Compact.Training;

/// <summary>What a training run is, for deciding whether `--resume` continues the same run: every setting that
/// changes the result, with each file or folder argument replaced by a digest of its contents. So
/// `--model ./tiny` and `--model /abs/tiny` are the same run, a moved run folder is the same run, and a data file
/// that was reordered or extended is not. Saved as run_identity.json beside run_config.json.</summary>
public static class RunIdentity
{
    public const string FileName = "run_identity.json";

    /// <summary>Settings that may differ between a run and its resumption: they do not change the result (or, for
    /// out, name where the run lives rather than what it is).</summary>
    public static readonly IReadOnlySet<string> Tolerant = new HashSet<string> { "resume", "device", "save_every", "keep_last", "verbose", "stop_after", "out" };

    /// <summary>Files up to this size are hashed whole; larger non-safetensors files by size, head and tail.</summary>
    const long WholeFileLimit = 64L << 20;
    const int Edge = 1 << 20;

    /// <summary>The identity of a run configuration: nested objects (a typed config's sections) are walked, settings
    /// named by their JSON path ("train.save_every") and left out when in <paramref name="tolerant"/> (default: <see cref="Tolerant"/>).</summary>
    public static JsonObject Compute(JsonObject runConfig, IReadOnlySet<string>? tolerant = null) => Walk(runConfig, "", tolerant ?? Tolerant);

    static JsonObject Walk(JsonObject o, string prefix, IReadOnlySet<string> tolerant)
    {
        var id = new JsonObject();
        foreach (var (key, value) in o)
        {
            var path = prefix + key;
            if (tolerant.Contains(path)) continue;
            id[key] = value switch
            {
                JsonObject nested => Walk(nested, path + ".", tolerant),
                JsonValue v when v.TryGetValue<string>(out var s) => PathOrValue(s),
                JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue<string>(out _)) =>
                    new JsonArray(a.Select(x => PathOrValue(x!.GetValue<string>())).ToArray()),
                _ => value?.DeepClone(),
            };
        }
        return id;
    }

    /// <summary>The items whose identity differs, each as "key (what)" with nested keys as JSON paths; empty when the
    /// runs are the same.</summary>
    public static List<string> Differences(JsonObject before, JsonObject now, IReadOnlySet<string>? tolerant = null)
    {
        var diffs = new List<string>();
        Compare(before, now, "", tolerant ?? Tolerant, diffs);
        return diffs;
    }

    static void Compare(JsonObject before, JsonObject now, string prefix, IReadOnlySet<string> tolerant, List<string> diffs)
    {
        foreach (var key in before.Select(kv => kv.Key).Union(now.Select(kv => kv.Key)))
        {
            var path = prefix + key;
            if (tolerant.Contains(path)) continue;
            var a = before[key];
            var b = now[key];
            if (JsonNode.DeepEquals(a, b)) continue;
            if (a is JsonObject ao && b is JsonObject bo && !IsDigest(a) && !IsDigest(b)) { Compare(ao, bo, path + ".", tolerant, diffs); continue; }
            bool contents = IsDigest(a) || IsDigest(b) || (a is JsonArray aa && aa.Any(IsDigest)) || (b is JsonArray ba && ba.Any(IsDigest));
            diffs.Add(contents ? $"{path} (its contents changed)" : $"{path}: {a?.ToJsonString() ?? "null"} → {b?.ToJsonString() ?? "null"}");
        }
    }

    static bool IsDigest(JsonNode? n) => n is JsonObject o && o.ContainsKey("sha256");

    static JsonNode? PathOrValue(string s)
    {
        if (s.Length == 0) return s;
        try
        {
            if (File.Exists(s)) return new JsonObject { ["sha256"] = FileDigest(s) };
            if (Directory.Exists(s)) return new JsonObject { ["sha256"] = FolderDigest(s) };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CompactException($"{s}: cannot be read to identify the run ({e.Message.Split('\n')[0].TrimEnd('.')}); check its permissions.");
        }
        return s;
    }

    /// <summary>SHA-256 of a folder's top-level files by name: small files whole, safetensors by size and header
    /// (which holds every tensor's name, dtype, shape and offsets), other large files by size, head and tail.</summary>
    public static string FolderDigest(string dir)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var f in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(f);
            if (name.StartsWith('.')) continue;            // locks, editor files
            h.AppendData(Encoding.UTF8.GetBytes($"{name}\0{FileDigest(f)}\n"));
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    public static string FileDigest(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        long len = fs.Length;
        if (len <= WholeFileLimit) return Convert.ToHexStringLower(SHA256.HashData(fs));
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(Encoding.UTF8.GetBytes($"size {len}\n"));
        long head = Edge;
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            Span<byte> n8 = stackalloc byte[8];
            fs.ReadExactly(n8);
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(n8);
            if (n < (ulong)(len - 8) && n <= 100_000_000) head = 8 + (long)n;
            fs.Position = 0;
        }
        var buf = new byte[head];
        fs.ReadExactly(buf);
        h.AppendData(buf);
        if (head == Edge)
        {
            var tail = new byte[Edge];
            fs.Position = len - Edge;
            fs.ReadExactly(tail);
            h.AppendData(tail);
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }
}
