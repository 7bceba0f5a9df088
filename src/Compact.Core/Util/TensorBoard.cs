using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Compact.Util;

/// <summary>Writes TensorBoard event files (scalars). TorchSharp's SummaryWriter stamps .NET ticks into the file name and the
/// first event's wall time, so TensorBoard shows a start date thousands of years off; this writer uses Unix seconds.
/// Format: TFRecord framing — uint64 length, masked CRC32C of the length, the record, masked CRC32C of the record — around
/// tensorflow.Event protobuf messages (event.proto: wall_time = 1 double, step = 2 int64, file_version = 3 string,
/// summary = 5; summary.proto: Summary.value = 1, Value.tag = 1, Value.simple_value = 2 float).</summary>
public sealed class TensorBoardWriter : IDisposable
{
    readonly FileStream _fs;
    readonly Func<DateTimeOffset> _clock;

    public string FilePath { get; }

    /// <param name="clock">Wall clock (tests pin it); default: now.</param>
    public TensorBoardWriter(string dir, Func<DateTimeOffset>? clock = null)
    {
        _clock = clock ?? (() => DateTimeOffset.UtcNow);
        Directory.CreateDirectory(dir);
        var now = _clock();
        // TensorBoard's own naming: events.out.tfevents.{unix seconds}.{host}.{pid}.{n}; pid and a counter keep two writers apart.
        var name = $"events.out.tfevents.{now.ToUnixTimeSeconds()}.{Environment.MachineName}.{Environment.ProcessId}.{Interlocked.Increment(ref _counter)}";
        FilePath = Path.Combine(dir, name);
        _fs = new FileStream(FilePath, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        var first = new List<byte>();
        Double(first, 1, Seconds(now));                            // step 0 is proto3's default: not written, as TensorFlow does
        Bytes(first, 3, Encoding.UTF8.GetBytes("brain.Event:2"));
        Record(first.ToArray());
    }

    static int _counter;

    static double Seconds(DateTimeOffset t) => (t - DateTimeOffset.UnixEpoch).Ticks / (double)TimeSpan.TicksPerSecond;

    public void AddScalar(string tag, double value, long step)
    {
        var v = new List<byte>();
        Bytes(v, 1, Encoding.UTF8.GetBytes(tag));
        Varint(v, 2 << 3 | 5);
        var f = new byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(f, (float)value);
        v.AddRange(f);
        var summary = new List<byte>();
        Bytes(summary, 1, v.ToArray());
        var e = new List<byte>();
        Double(e, 1, Seconds(_clock()));
        if (step != 0) { Varint(e, 2 << 3 | 0); Varint(e, (ulong)step); }
        Bytes(e, 5, summary.ToArray());
        Record(e.ToArray());
    }

    void Record(byte[] data)
    {
        var head = new byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(head, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(8), MaskedCrc(head.AsSpan(0, 8)));
        var tail = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(tail, MaskedCrc(data));
        lock (_fs)
        {
            _fs.Write(head);
            _fs.Write(data);
            _fs.Write(tail);
            _fs.Flush();
        }
    }

    /// <summary>TFRecord's masked CRC32C: rotate right by 15 and add 0xa282ead8.</summary>
    public static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C(data);
        return (crc >> 15 | crc << 17) + 0xa282ead8u;
    }

    /// <summary>CRC-32C (Castagnoli), init and final xor 0xFFFFFFFF; BitOperations.Crc32C is one reflected step.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    static void Varint(List<byte> o, ulong v)
    {
        while (v >= 0x80) { o.Add((byte)(v | 0x80)); v >>= 7; }
        o.Add((byte)v);
    }

    static void Bytes(List<byte> o, int field, byte[] b)
    {
        Varint(o, (ulong)(field << 3 | 2));
        Varint(o, (ulong)b.Length);
        o.AddRange(b);
    }

    static void Double(List<byte> o, int field, double d)
    {
        Varint(o, (ulong)(field << 3 | 1));
        var b = new byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(b, d);
        o.AddRange(b);
    }

    public void Dispose() { _fs.Flush(true); _fs.Dispose(); }
}
