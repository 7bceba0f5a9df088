using Compact.Util;

namespace Compact.Tests.Training;

public class TensorBoardTests
{
    static string Fixture => Path.Combine(TestUtil.RepoRoot(), "tests", "Compact.Tests", "Fixtures", "tensorboard", "reference.tfevents");

    [Fact]
    public void Event_files_match_the_bytes_written_by_Googles_protobuf_and_a_reference_CRC32C()
    {
        // The fixture comes from scripts/tensorboard_reference.py (Google's protobuf runtime + crcmod's CRC-32C), writing the
        // same events with the same pinned clock: 2025-11-30 10:53:20.25 UTC, +1.5 s per event.
        using var dir = new TestUtil.TempDir();
        var t = new DateTimeOffset(2025, 11, 30, 10, 53, 20, 250, TimeSpan.Zero);
        int calls = 0;
        string path;
        using (var w = new TensorBoardWriter(dir["tb"], () => t.AddSeconds(1.5 * calls++)))
        {
            w.AddScalar("train/loss", 2.5, 1);
            w.AddScalar("train/lr", 0.0003, 1);
            w.AddScalar("train/loss", 0.0, 2);
            w.AddScalar("train/café", -1.25, 1_000_000);
            path = w.FilePath;
        }
        Assert.Equal(File.ReadAllBytes(Fixture), File.ReadAllBytes(path));
        // The file name carries Unix seconds too (TensorBoard sorts and labels runs by it).
        Assert.StartsWith("events.out.tfevents.1764500000.", Path.GetFileName(path));
    }

    [Theory]
    // CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720 / the Rocksoft catalogue); empty input gives 0.
    [InlineData("123456789", 0xE3069283u)]
    [InlineData("", 0u)]
    public void Crc32c_matches_the_catalogue(string text, uint crc) =>
        Assert.Equal(crc, TensorBoardWriter.Crc32C(System.Text.Encoding.ASCII.GetBytes(text)));
}
