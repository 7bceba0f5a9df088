using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.IO;

/// <summary>Element types of the safetensors format (names as they appear in the header).</summary>
public enum SafeDType { BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64 }

public static class SafeDTypes
{
    public static int Size(this SafeDType d) => d switch
    {
        SafeDType.BOOL or SafeDType.U8 or SafeDType.I8 => 1,
        SafeDType.I16 or SafeDType.F16 or SafeDType.BF16 => 2,
        SafeDType.I32 or SafeDType.F32 => 4,
        SafeDType.I64 or SafeDType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(d)),
    };

    public static ScalarType ToTorch(this SafeDType d) => d switch
    {
        SafeDType.BOOL => ScalarType.Bool,
        SafeDType.U8 => ScalarType.Byte,
        SafeDType.I8 => ScalarType.Int8,
        SafeDType.I16 => ScalarType.Int16,
        SafeDType.I32 => ScalarType.Int32,
        SafeDType.I64 => ScalarType.Int64,
        SafeDType.F16 => ScalarType.Float16,
        SafeDType.BF16 => ScalarType.BFloat16,
        SafeDType.F32 => ScalarType.Float32,
        SafeDType.F64 => ScalarType.Float64,
        _ => throw new ArgumentOutOfRangeException(nameof(d)),
    };

    public static SafeDType FromTorch(ScalarType t) => t switch
    {
        ScalarType.Bool => SafeDType.BOOL,
        ScalarType.Byte => SafeDType.U8,
        ScalarType.Int8 => SafeDType.I8,
        ScalarType.Int16 => SafeDType.I16,
        ScalarType.Int32 => SafeDType.I32,
        ScalarType.Int64 => SafeDType.I64,
        ScalarType.Float16 => SafeDType.F16,
        ScalarType.BFloat16 => SafeDType.BF16,
        ScalarType.Float32 => SafeDType.F32,
        ScalarType.Float64 => SafeDType.F64,
        _ => throw new CompactException($"safetensors has no element type for torch {t}; convert the tensor to a supported type first."),
    };

    public static bool TryParse(string s, out SafeDType d) =>
        Enum.TryParse(s, ignoreCase: false, out d) && Enum.IsDefined(d);
}

/// <summary>One tensor's header entry. Begin/End are offsets into the data region (after the header).</summary>
public sealed record TensorEntry(string Name, SafeDType DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>A safetensors file opened for reading through a read-only memory map: the header is parsed and
/// validated up front; tensor bytes are copied straight from the mapping into torch tensors, so the file is
/// never read whole into managed memory.</summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    readonly MemoryMappedFile? _mmf;
    readonly MemoryMappedViewAccessor? _view;
    readonly byte* _base;
    readonly long _dataStart;
    readonly Dictionary<string, TensorEntry> _byName;

    public string Path { get; }
    public IReadOnlyList<TensorEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    SafeTensorsFile(string path, MemoryMappedFile? mmf, MemoryMappedViewAccessor? view, byte* basePtr, long dataStart,
        List<TensorEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path; _mmf = mmf; _view = view; _base = basePtr; _dataStart = dataStart;
        Entries = entries; Metadata = metadata;
        _byName = entries.ToDictionary(e => e.Name);
    }

    public bool Contains(string name) => _byName.ContainsKey(name);
    public TensorEntry this[string name] => _byName.TryGetValue(name, out var e) ? e
        : throw new CompactException($"{Path}: no tensor named '{name}'.");

    public static SafeTensorsFile Open(string path)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors IO needs a little-endian host.");
        if (!File.Exists(path)) throw new CompactException($"{path}: file not found.");
        long fileLen = new FileInfo(path).Length;
        if (fileLen < 8)
            throw new CompactException($"{path}: truncated safetensors file ({fileLen} bytes, shorter than the 8-byte header length); re-download or re-save it.");
        byte[] headerBytes;
        using (var fs = File.OpenRead(path))
        {
            Span<byte> lenBuf = stackalloc byte[8];
            fs.ReadExactly(lenBuf);
            ulong n = BitConverter.ToUInt64(lenBuf);
            if (n > (ulong)(fileLen - 8))
                throw new CompactException($"{path}: header length {n} is longer than the file ({fileLen} bytes); the file is truncated or not safetensors.");
            if (n > 100_000_000)
                throw new CompactException($"{path}: header length {n} is implausibly large (over 100 MB); the file is not safetensors.");
            headerBytes = new byte[n];
            fs.ReadExactly(headerBytes);
        }
        long dataStart = 8 + headerBytes.LongLength;
        long dataLen = fileLen - dataStart;
        var (entries, meta) = ParseHeader(path, headerBytes, dataLen);

        var mmf = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor view;
        try { view = mmf.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read); }
        catch { mmf.Dispose(); throw; }
        byte* ptr = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
        ptr += view.PointerOffset;
        return new SafeTensorsFile(path, mmf, view, ptr, dataStart, entries, meta);
    }

    /// <summary>Parses and validates a header: every rule of the format, each failure naming the file.</summary>
    public static (List<TensorEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLen)
    {
        try { new System.Text.UTF8Encoding(false, true).GetCharCount(header); }
        catch (System.Text.DecoderFallbackException) { throw new CompactException($"{path}: header is not valid UTF-8 text; the file is corrupt or not safetensors."); }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw new CompactException($"{path}: header is not valid JSON ({e.Message}); the file is corrupt or not safetensors."); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new CompactException($"{path}: header must be a JSON object of tensors.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var entries = new List<TensorEntry>();
        var meta = new Dictionary<string, string>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (!seen.Add(p.Name))
                throw new CompactException($"{path}: duplicate tensor name '{p.Name}' in the header.");
            if (p.Name == "__metadata__")
            {
                if (p.Value.ValueKind != JsonValueKind.Object)
                    throw new CompactException($"{path}: __metadata__ must be an object of strings.");
                foreach (var m in p.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String)
                        throw new CompactException($"{path}: __metadata__ value '{m.Name}' must be a string.");
                    meta[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            var v = p.Value;
            if (v.ValueKind != JsonValueKind.Object || !v.TryGetProperty("dtype", out var dt) || !v.TryGetProperty("shape", out var sh)
                || !v.TryGetProperty("data_offsets", out var off))
                throw new CompactException($"{path}: tensor '{p.Name}' needs dtype, shape and data_offsets.");
            if (dt.ValueKind != JsonValueKind.String || !SafeDTypes.TryParse(dt.GetString()!, out var dtype))
                throw new CompactException($"{path}: tensor '{p.Name}' has unknown dtype {dt}; supported: {string.Join(", ", Enum.GetNames<SafeDType>())}.");
            if (sh.ValueKind != JsonValueKind.Array || sh.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.Number || !x.TryGetInt64(out var q) || q < 0))
                throw new CompactException($"{path}: tensor '{p.Name}' has an invalid shape {sh}.");
            var shape = sh.EnumerateArray().Select(x => x.GetInt64()).ToArray();
            if (off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2
                || off.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.Number || !x.TryGetInt64(out var q) || q < 0))
                throw new CompactException($"{path}: tensor '{p.Name}' has invalid data_offsets {off}.");
            long b = off[0].GetInt64(), e = off[1].GetInt64();
            if (e < b)
                throw new CompactException($"{path}: tensor '{p.Name}' has data_offsets [{b}, {e}] that end before they begin.");
            if (e > dataLen)
                throw new CompactException($"{path}: tensor '{p.Name}' data_offsets [{b}, {e}] are out of range: the data region has {dataLen} bytes (file truncated?).");
            long expected;
            try { expected = checked(shape.Aggregate(1L, (a, x) => a * x) * dtype.Size()); }
            catch (OverflowException) { throw new CompactException($"{path}: tensor '{p.Name}' shape [{string.Join(",", shape)}] is too large."); }
            if (expected != e - b)
                throw new CompactException($"{path}: tensor '{p.Name}' shape [{string.Join(",", shape)}] of {dtype} needs {expected} bytes but data_offsets give {e - b}.");
            entries.Add(new TensorEntry(p.Name, dtype, shape, b, e));
        }
        var sorted = entries.Where(x => x.ByteLength > 0).OrderBy(x => x.Begin).ToList();
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i].Begin < sorted[i - 1].End)
                throw new CompactException($"{path}: tensors '{sorted[i - 1].Name}' and '{sorted[i].Name}' have overlapping data_offsets.");
        return (entries, meta);
    }

    public Tensor ReadTensor(string name, Device? device = null, ScalarType? dtype = null) => ReadTensor(this[name], device, dtype);

    /// <summary>Copies one tensor out of the mapping into a new CPU tensor, then converts to device/dtype if asked.</summary>
    public Tensor ReadTensor(TensorEntry e, Device? device = null, ScalarType? dtype = null)
    {
        var t = torch.empty(e.Shape, dtype: e.DType.ToTorch());
        CopyInto(e, t);
        if ((device is null || device.type == DeviceType.CPU) && (dtype is null || dtype == t.dtype)) return t;
        using (t) return t.to(dtype ?? t.dtype, device ?? torch.CPU);
    }

    /// <summary>Copies the entry's bytes into a contiguous CPU tensor of the same element type and size.</summary>
    public void CopyInto(TensorEntry e, Tensor dst)
    {
        if (dst.device_type != DeviceType.CPU || !dst.is_contiguous() || dst.dtype != e.DType.ToTorch() || dst.NumberOfElements != e.NumElements)
            throw new ArgumentException("destination must be a contiguous CPU tensor of the entry's dtype and size");
        if (e.ByteLength == 0) return;
        byte* src = _base + _dataStart + e.Begin;
        ForEachChunk(dst, (span, offset) => new ReadOnlySpan<byte>(src + offset, span.Length).CopyTo(span));
    }

    /// <summary>Calls f with ≤ 1 GiB spans covering a contiguous CPU tensor's storage (Tensor.bytes is an int-sized span).</summary>
    internal static void ForEachChunk(Tensor t, SpanAction f)
    {
        long total = t.NumberOfElements * t.ElementSize;
        if (total == 0) return;
        if (total <= int.MaxValue) { f(t.bytes, 0); return; }
        long rows = t.shape[0];
        long rowBytes = total / rows;
        long rowsPerChunk = Math.Max(1, (1L << 30) / rowBytes);
        for (long r = 0; r < rows; r += rowsPerChunk)
        {
            using var part = t.narrow(0, r, Math.Min(rowsPerChunk, rows - r));
            f(part.bytes, r * rowBytes);
        }
    }

    internal delegate void SpanAction(Span<byte> span, long offset);

    public void Dispose()
    {
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _mmf?.Dispose();
    }
}

/// <summary>A tensor to be written: produced on demand so that large checkpoints stream one tensor at a time.</summary>
public sealed record TensorSource(string Name, ScalarType DType, long[] Shape, Func<Tensor> Get, bool DisposeAfterWrite = false)
{
    public long ByteLength => Shape.Aggregate(1L, (a, b) => a * b) * SafeDTypes.FromTorch(DType).Size();
    public static TensorSource Of(string name, Tensor t) => new(name, t.dtype, t.shape, () => t);
}

public static class SafeTensorsWriter
{
    /// <summary>Writes one safetensors file atomically (temporary sibling, then rename), with
    /// {"format":"pt"} metadata unless other metadata is given. The header is space-padded to 8 bytes.</summary>
    public static void Write(string path, IReadOnlyList<TensorSource> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var dup = tensors.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"duplicate tensor name '{dup.Key}'");
        var header = new JsonObject();
        var meta = new JsonObject();
        foreach (var kv in metadata ?? new Dictionary<string, string> { ["format"] = "pt" }) meta[kv.Key] = kv.Value;
        header["__metadata__"] = meta;
        long offset = 0;
        foreach (var t in tensors)
        {
            long len = t.ByteLength;
            header[t.Name] = new JsonObject
            {
                ["dtype"] = SafeDTypes.FromTorch(t.DType).ToString(),
                ["shape"] = new JsonArray(t.Shape.Select(x => (JsonNode)JsonValue.Create(x)!).ToArray()),
                ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + len)),
            };
            offset += len;
        }
        var hb = Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - hb.Length % 8) % 8;
        var headerBytes = new byte[hb.Length + pad];
        hb.CopyTo(headerBytes, 0);
        for (int i = hb.Length; i < headerBytes.Length; i++) headerBytes[i] = (byte)' ';

        AtomicFile.Write(path, s =>
        {
            s.Write(BitConverter.GetBytes((ulong)headerBytes.Length));
            s.Write(headerBytes);
            foreach (var src in tensors)
            {
                var t = src.Get();
                try
                {
                    if (t.dtype != src.DType || !t.shape.SequenceEqual(src.Shape))
                        throw new InvalidOperationException($"tensor '{src.Name}' changed shape or dtype while writing");
                    using var scope = torch.NewDisposeScope();
                    var c = t.device_type == DeviceType.CPU && t.is_contiguous() ? t : t.cpu().contiguous();
                    SafeTensorsFile.ForEachChunk(c, (span, _) => s.Write(span));
                }
                finally { if (src.DisposeAfterWrite) t.Dispose(); }
            }
        });
    }
}
