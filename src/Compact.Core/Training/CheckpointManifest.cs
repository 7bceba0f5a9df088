using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.IO;

namespace Compact.Training;

/// <summary>A checksum manifest written last into every training checkpoint (manifest.json: each file's size and
/// SHA-256), and its check on resume, so that a checkpoint damaged after it was written (a truncated
/// optimizer.bin, a cut trainer_state.json, a disk that filled up) is recognised and not loaded.</summary>
public static class CheckpointManifest
{
    public const string FileName = "manifest.json";

    public static void Write(string dir)
    {
        var files = new JsonObject();
        foreach (var f in Files(dir))
        {
            var info = new FileInfo(Path.Combine(dir, f));
            files[f] = new JsonObject { ["bytes"] = info.Length, ["sha256"] = Hash(info.FullName) };
        }
        AtomicFile.WriteAllText(Path.Combine(dir, FileName), new JsonObject { ["files"] = files }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Null when the checkpoint matches its manifest, else the first problem, naming the file. A checkpoint
    /// written before manifests existed is accepted when its JSON files parse.</summary>
    public static string? Problem(string dir)
    {
        var path = Path.Combine(dir, FileName);
        try
        {
            if (!File.Exists(path))
            {
                foreach (var j in Directory.GetFiles(dir, "*.json"))
                    try { JsonNode.Parse(File.ReadAllText(j)); }
                    catch (JsonException) { return $"{Path.GetFileName(j)} is not valid JSON"; }
                return null;
            }
            JsonObject files;
            try { files = JsonNode.Parse(File.ReadAllText(path))!["files"]!.AsObject(); }
            catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException) { return $"{FileName} is damaged"; }
            foreach (var (name, entry) in files)
            {
                var f = Path.Combine(dir, name);
                if (!File.Exists(f)) return $"{name} is missing";
                long want = entry?["bytes"]?.GetValue<long>() ?? -1;
                long have = new FileInfo(f).Length;
                if (have != want) return $"{name} has {have} bytes, the manifest says {want}";
                if (Hash(f) != entry?["sha256"]?.GetValue<string>()) return $"{name} does not match its SHA-256 in the manifest";
            }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot be read ({e.Message.Split('\n')[0].TrimEnd('.')})";
        }
    }

    static IEnumerable<string> Files(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/'))
            .Where(f => f != FileName)
            .Order(StringComparer.Ordinal);

    static string Hash(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}
