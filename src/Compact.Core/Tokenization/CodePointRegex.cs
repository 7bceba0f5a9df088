using System.Globalization;
using System.Text.RegularExpressions;

namespace Compact.Tokenization;

/// <summary>
/// A split regex whose <c>\p{L}</c>, <c>\p{N}</c>, <c>.</c> and quantifiers see Unicode code points, as in Hugging
/// Face (Oniguruma) and JavaScript's /u, instead of .NET's UTF-16 code units.
/// </summary>
/// <remarks>
/// .NET classifies each half of a surrogate pair as Cs, so "𝟙" (U+1D7D9, a digit) or "𠀀" (U+20000, a letter)
/// match neither \p{N} nor \p{L}, and the pre-tokens around them come out different. When a text has surrogate
/// pairs we match on a proxy string holding one BMP stand-in of the same general category per code point, then
/// map the match offsets back.
/// </remarks>
internal sealed class CodePointRegex(string pattern)
{
    public Regex Regex { get; } = new(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);

    // One BMP character per general category; none is ASCII, so none can meet a literal in the pattern.
    private static readonly char[] StandIn = BuildStandIns();

    /// <summary>Isolated split of <c>text[start..start+length]</c>: matches and the gaps between them, in order.</summary>
    public void Split(string text, int start, int length, List<(int Start, int Length)> into)
    {
        var span = text.AsSpan(start, length);
        if (span.IndexOfAnyInRange('\uD800', '\uDBFF') < 0)
        {
            AddPieces(Regex.EnumerateMatches(span), start, length, null, into);
            return;
        }

        // offsets[i] = position in span of proxy char i (plus one entry for the end).
        var proxy = new char[span.Length];
        var offsets = new int[span.Length + 1];
        var n = 0;
        for (var i = 0; i < span.Length; i++)
        {
            offsets[n] = i;
            if (char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                var cp = char.ConvertToUtf32(span[i], span[i + 1]);
                proxy[n++] = StandIn[(int)CharUnicodeInfo.GetUnicodeCategory(cp)];
                i++;
            }
            else proxy[n++] = span[i];
        }
        offsets[n] = span.Length;
        AddPieces(Regex.EnumerateMatches(proxy.AsSpan(0, n)), start, length, offsets, into);
    }

    private static void AddPieces(Regex.ValueMatchEnumerator matches, int start, int length, int[]? offsets,
        List<(int, int)> into)
    {
        var last = start;
        foreach (var m in matches)
        {
            if (m.Length == 0) continue;
            var from = start + (offsets?[m.Index] ?? m.Index);
            var to = start + (offsets?[m.Index + m.Length] ?? m.Index + m.Length);
            if (from > last) into.Add((last, from - last));
            into.Add((from, to - from));
            last = to;
        }
        if (last < start + length) into.Add((last, start + length - last));
    }

    internal static char StandInFor(UnicodeCategory category) => StandIn[(int)category];

    private static char[] BuildStandIns()
    {
        var map = new char[32];
        void Set(UnicodeCategory c, char ch) => map[(int)c] = ch;
        Set(UnicodeCategory.UppercaseLetter, 'Α');        // U+0391
        Set(UnicodeCategory.LowercaseLetter, 'α');        // U+03B1
        Set(UnicodeCategory.TitlecaseLetter, 'ǅ');        // U+01C5
        Set(UnicodeCategory.ModifierLetter, 'ʰ');         // U+02B0
        Set(UnicodeCategory.OtherLetter, '一');           // U+4E00
        Set(UnicodeCategory.NonSpacingMark, '\u0300');
        Set(UnicodeCategory.SpacingCombiningMark, '\u0903');
        Set(UnicodeCategory.EnclosingMark, '\u20DD');
        Set(UnicodeCategory.DecimalDigitNumber, '\u0660');
        Set(UnicodeCategory.LetterNumber, '\u2160');
        Set(UnicodeCategory.OtherNumber, '\u00B2');
        Set(UnicodeCategory.SpaceSeparator, '\u3000');
        Set(UnicodeCategory.LineSeparator, '\u2028');
        Set(UnicodeCategory.ParagraphSeparator, '\u2029');
        Set(UnicodeCategory.Control, '\u0080');
        Set(UnicodeCategory.Format, '\u200B');
        Set(UnicodeCategory.Surrogate, '\uD800');
        Set(UnicodeCategory.PrivateUse, '\uE000');
        Set(UnicodeCategory.ConnectorPunctuation, '\u203F');
        Set(UnicodeCategory.DashPunctuation, '\u2010');
        Set(UnicodeCategory.OpenPunctuation, '\u2045');
        Set(UnicodeCategory.ClosePunctuation, '\u2046');
        Set(UnicodeCategory.InitialQuotePunctuation, '\u00AB');
        Set(UnicodeCategory.FinalQuotePunctuation, '\u00BB');
        Set(UnicodeCategory.OtherPunctuation, '\u00A7');
        Set(UnicodeCategory.MathSymbol, '\u00D7');
        Set(UnicodeCategory.CurrencySymbol, '\u00A2');
        Set(UnicodeCategory.ModifierSymbol, '\u02C2');
        Set(UnicodeCategory.OtherSymbol, '\u00A6');
        Set(UnicodeCategory.OtherNotAssigned, '\u0378');
        return map;
    }
}
