using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.IO;

/// <summary>The weights of a Hugging Face checkpoint folder: either one model.safetensors or shards listed
/// in model.safetensors.index.json. Tensors are looked up by name across shards.</summary>
public sealed class CheckpointReader : IDisposable
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    readonly Dictionary<string, SafeTensorsFile> _files = new();
    readonly Dictionary<string, (SafeTensorsFile File, TensorEntry Entry)> _map = new(StringComparer.Ordinal);

    public string Directory { get; }
    public IReadOnlyCollection<string> Names => _map.Keys;
    public bool Contains(string name) => _map.ContainsKey(name);
    public TensorEntry Entry(string name) => _map.TryGetValue(name, out var x) ? x.Entry
        : throw new CompactException($"{Directory}: checkpoint has no tensor '{name}'.");

    CheckpointReader(string dir) { Directory = dir; }

    /// <summary>One safetensors file on its own (a LoRA adapter's weights); Directory is the file's path.</summary>
    public static CheckpointReader OpenFile(string path)
    {
        if (!File.Exists(path)) throw new CompactException($"{path}: file not found.");
        var r = new CheckpointReader(path);
        try { r.Add(Path.GetFileName(path), SafeTensorsFile.Open(path)); return r; }
        catch { r.Dispose(); throw; }
    }

    void Add(string fname, SafeTensorsFile f)
    {
        _files[fname] = f;
        foreach (var e in f.Entries) _map[e.Name] = (f, e);
    }

    /// <summary>Tensors stored once under another name: safetensors' torch writer drops a tensor that shares memory
    /// with another and records {"dropped name": "kept name"} in __metadata__ (a tied model saved by transformers
    /// keeps lm_head.weight and lists model.embed_tokens.weight there). Such names resolve to the kept tensor.</summary>
    void ResolveAliases()
    {
        foreach (var f in _files.Values)
            foreach (var (alias, target) in f.Metadata)
                if (!_map.ContainsKey(alias) && _map.TryGetValue(target, out var t))
                    _map[alias] = t;
    }

    public static CheckpointReader Open(string dir, string single = SingleFile, string index = IndexFile)
    {
        var r = new CheckpointReader(dir);
        try
        {
            var idx = Path.Combine(dir, index);
            var one = Path.Combine(dir, single);
            if (File.Exists(idx))
            {
                JsonNode? root;
                try { root = JsonNode.Parse(File.ReadAllText(idx)); }
                catch (JsonException e) { throw new CompactException($"{idx}: not valid JSON ({e.Message})."); }
                if (root?["weight_map"] is not JsonObject wm)
                    throw new CompactException($"{idx}: missing \"weight_map\" object; re-save the checkpoint.");
                foreach (var (name, fileNode) in wm)
                {
                    var fname = fileNode?.GetValue<string>() ?? throw new CompactException($"{idx}: tensor '{name}' has no shard file.");
                    if (fname.Contains('/') || fname.Contains('\\') || fname.Contains(".."))
                        throw new CompactException($"{idx}: shard name '{fname}' must be a plain file name in the same folder.");
                    if (!r._files.TryGetValue(fname, out var f))
                    {
                        var fp = Path.Combine(dir, fname);
                        if (!File.Exists(fp)) throw new CompactException($"{idx}: shard '{fname}' listed for '{name}' does not exist in {dir}.");
                        r._files[fname] = f = SafeTensorsFile.Open(fp);
                    }
                    if (!f.Contains(name)) throw new CompactException($"{idx}: tensor '{name}' is mapped to '{fname}', which does not contain it.");
                    r._map[name] = (f, f[name]);
                }
            }
            else if (File.Exists(one)) r.Add(single, SafeTensorsFile.Open(one));
            else
            {
                var hint = System.IO.Directory.Exists(dir) && System.IO.Directory.EnumerateFiles(dir, "*.bin").Any()
                    ? " It has PyTorch .bin weights only: re-save them as safetensors (save_pretrained(..., safe_serialization=True))."
                    : " Point --model at a Hugging Face checkpoint folder, or create one with `compact init`.";
                throw new CompactException($"{dir}: no {single} or {index}.{hint}");
            }
            r.ResolveAliases();
            return r;
        }
        catch { r.Dispose(); throw; }
    }

    public Tensor Read(string name, Device? device = null, ScalarType? dtype = null)
    {
        var (f, e) = _map.TryGetValue(name, out var x) ? x : throw new CompactException($"{Directory}: checkpoint has no tensor '{name}'.");
        return f.ReadTensor(e, device, dtype);
    }

    /// <summary>Copies a tensor into an existing destination (any device/dtype), converting as needed.</summary>
    public void ReadInto(string name, Tensor dst)
    {
        var (f, e) = _map[name];
        if (dst.device_type == DeviceType.CPU && dst.is_contiguous() && dst.dtype == e.DType.ToTorch())
        {
            f.CopyInto(e, dst);
            return;
        }
        using var t = f.ReadTensor(e);
        using (torch.no_grad()) dst.copy_(t);
    }

    public void Dispose()
    {
        foreach (var f in _files.Values) f.Dispose();
        _files.Clear();
    }
}

public static class CheckpointWriter
{
    public const long DefaultMaxShardBytes = 5L << 30;

    /// <summary>Writes weights as Hugging Face does: one model.safetensors when they fit in maxShardBytes,
    /// else model-0000i-of-0000n.safetensors shards plus model.safetensors.index.json. Every file is written
    /// atomically; the index last; weight files of an earlier save in the same folder that this save does not
    /// produce are removed afterwards, so the folder never mixes two saves.</summary>
    public static IReadOnlyList<string> Save(string dir, IReadOnlyList<TensorSource> tensors, long maxShardBytes = DefaultMaxShardBytes,
        string single = CheckpointReader.SingleFile, string index = CheckpointReader.IndexFile)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        System.IO.Directory.CreateDirectory(dir);
        var shards = new List<List<TensorSource>> { new() };
        long cur = 0;
        foreach (var t in tensors)
        {
            if (cur > 0 && cur + t.ByteLength > maxShardBytes) { shards.Add(new()); cur = 0; }
            shards[^1].Add(t);
            cur += t.ByteLength;
        }
        var written = new List<string>();
        var stem = Path.GetFileNameWithoutExtension(single);
        if (shards.Count == 1)
        {
            SafeTensorsWriter.Write(Path.Combine(dir, single), shards[0]);
            written.Add(single);
        }
        else
        {
            var weightMap = new JsonObject();
            for (int i = 0; i < shards.Count; i++)
            {
                var name = $"{stem}-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                SafeTensorsWriter.Write(Path.Combine(dir, name), shards[i]);
                written.Add(name);
                foreach (var t in shards[i]) weightMap[t.Name] = name;
            }
            var idx = new JsonObject
            {
                ["metadata"] = new JsonObject { ["total_size"] = tensors.Sum(t => t.ByteLength) },
                ["weight_map"] = weightMap,
            };
            AtomicFile.WriteAllText(Path.Combine(dir, index), idx.ToJsonString(Compact.Util.Jsonl.Indented));
            written.Add(index);
        }
        // Remove stale weight files of a previous save with a different layout.
        foreach (var f in System.IO.Directory.EnumerateFiles(dir, stem + "*.safetensors*"))
        {
            var n = Path.GetFileName(f);
            if (!written.Contains(n) && (n == single || n == index || n.StartsWith(stem + "-", StringComparison.Ordinal) && !n.Contains(".tmp-")))
                File.Delete(f);
        }
        return written;
    }
}
