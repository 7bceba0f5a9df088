using System.Text;

namespace Compact.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-unicode alphabet used by byte-level BPE (Hugging Face <c>ByteLevel</c>
/// pre-tokenizer and decoder): printable bytes map to themselves, the other 68 bytes to U+0100.. in order,
/// so a space becomes 'Ġ' (U+0120) and a newline 'Ċ' (U+010A).
/// </summary>
public static class ByteLevel
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    /// <summary>The 256 symbols, indexed by byte value.</summary>
    public static IReadOnlyList<char> Alphabet => ByteToChar;

    public static char ToChar(byte b) => ByteToChar[b];

    /// <summary>UTF-8 bytes of <paramref name="text"/>, each written as its alphabet symbol.</summary>
    public static string Encode(ReadOnlySpan<char> text)
    {
        var n = Encoding.UTF8.GetByteCount(text);
        var bytes = n <= 256 ? stackalloc byte[n] : new byte[n];
        Encoding.UTF8.GetBytes(text, bytes);
        var chars = n <= 256 ? stackalloc char[n] : new char[n];
        for (var i = 0; i < n; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>Appends the bytes of a byte-level token; false (nothing appended) when a char is outside the alphabet.</summary>
    public static bool TryAppendBytes(string token, List<byte> into)
    {
        foreach (var c in token)
            if (!CharToByte.ContainsKey(c)) return false;
        foreach (var c in token) into.Add(CharToByte[c]);
        return true;
    }

    // bytes_to_unicode() from openai/gpt-2 encoder.py.
    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }
}
