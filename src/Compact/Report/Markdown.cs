using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Compact.Report;

/// <summary>The small part of markdown that result files use (headings, pipe tables, lists, fenced code, paragraphs,
/// `code`, **bold**, images) turned into HTML. Everything is HTML-escaped; images become data URIs when the file is
/// next to the markdown and are dropped otherwise; links keep their text only, so the page loads nothing from outside.</summary>
public static partial class Markdown
{
    [GeneratedRegex(@"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")]
    private static partial Regex Separator();
    [GeneratedRegex(@"^(#{1,6})\s+(.*?)\s*#*\s*$")]
    private static partial Regex HeadingRx();
    [GeneratedRegex(@"^\s*(?:[-*+]|\d+\.)\s+(.*)$")]
    private static partial Regex ListItem();
    [GeneratedRegex(@"!\[([^\]]*)\]\(([^)\s]+)[^)]*\)")]
    private static partial Regex ImageRx();
    [GeneratedRegex(@"\[([^\]]+)\]\(([^)]+)\)")]
    private static partial Regex LinkRx();
    [GeneratedRegex(@"`([^`]+)`")]
    private static partial Regex CodeRx();
    [GeneratedRegex(@"\*\*([^*]+)\*\*")]
    private static partial Regex BoldRx();
    [GeneratedRegex(@"^[-+]?[\d.,]+(?:e[-+]?\d+)?\s*%?(?:\s*±\s*[\d.,]+\s*%?)?(?:\s*\([-+]?[\d.,]+(?:e[-+]?\d+)?\s*%?\))?$", RegexOptions.IgnoreCase)]
    private static partial Regex NumberRx();

    public static bool LooksNumeric(string s) => NumberRx().IsMatch(s.Trim());

    /// <param name="headingShift">Added to heading levels (the page has its own h1 and h2).</param>
    public static string ToHtml(string source, string? dir, int headingShift = 2)
    {
        var lines = source.Replace("\r\n", "\n").Split('\n');
        var sb = new StringBuilder();
        var para = new List<string>();
        void Flush()
        {
            if (para.Count == 0) return;
            sb.Append("<p>").Append(Inline(string.Join(" ", para), dir)).Append("</p>\n");
            para.Clear();
        }
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                Flush();
                var code = new List<string>();
                for (i++; i < lines.Length && !lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal); i++) code.Add(lines[i]);
                sb.Append("<pre><code>").Append(Html.E(string.Join("\n", code))).Append("</code></pre>\n");
                continue;
            }
            if (HeadingRx().Match(line) is { Success: true } h)
            {
                Flush();
                int level = Math.Min(6, h.Groups[1].Length + headingShift);
                sb.Append(CultureInfo.InvariantCulture, $"<h{level}>").Append(Inline(h.Groups[2].Value, dir)).Append(CultureInfo.InvariantCulture, $"</h{level}>\n");
                continue;
            }
            if (line.TrimStart().StartsWith('|') && i + 1 < lines.Length && Separator().IsMatch(lines[i + 1].Trim()))
            {
                Flush();
                var header = Cells(line);
                var rows = new List<List<string>>();
                for (i += 2; i < lines.Length && lines[i].TrimStart().StartsWith('|'); i++) rows.Add(Cells(lines[i]));
                i--;
                sb.Append("<div class=\"scroll\"><table><thead><tr>");
                foreach (var c in header) sb.Append("<th>").Append(Inline(c, dir)).Append("</th>");
                sb.Append("</tr></thead><tbody>\n");
                foreach (var r in rows)
                {
                    sb.Append("<tr>");
                    for (int c = 0; c < header.Count; c++)
                    {
                        var cell = c < r.Count ? r[c] : "";
                        sb.Append(c > 0 && LooksNumeric(cell) ? "<td class=\"num\">" : "<td>").Append(Inline(cell, dir)).Append("</td>");
                    }
                    sb.Append("</tr>\n");
                }
                sb.Append("</tbody></table></div>\n");
                continue;
            }
            if (ListItem().Match(line) is { Success: true } li)
            {
                Flush();
                sb.Append("<ul>\n");
                for (; i < lines.Length && ListItem().Match(lines[i]) is { Success: true } m; i++)
                    sb.Append("<li>").Append(Inline(m.Groups[1].Value, dir)).Append("</li>\n");
                i--;
                sb.Append("</ul>\n");
                continue;
            }
            if (string.IsNullOrWhiteSpace(line)) { Flush(); continue; }
            para.Add(line.Trim());
        }
        Flush();
        return sb.ToString();
    }

    static List<string> Cells(string line)
    {
        var t = line.Trim();
        if (t.StartsWith('|')) t = t[1..];
        if (t.EndsWith('|') && !t.EndsWith("\\|", StringComparison.Ordinal)) t = t[..^1];
        var cells = new List<string>();
        var cur = new StringBuilder();
        for (int i = 0; i < t.Length; i++)
        {
            if (t[i] == '\\' && i + 1 < t.Length && t[i + 1] == '|') { cur.Append('|'); i++; }
            else if (t[i] == '|') { cells.Add(cur.ToString().Trim()); cur.Clear(); }
            else cur.Append(t[i]);
        }
        cells.Add(cur.ToString().Trim());
        return cells;
    }

    /// <summary>Inline markup of one escaped line: images (embedded or dropped), links (text only), code, bold.</summary>
    static string Inline(string text, string? dir)
    {
        var images = new List<string>();
        text = ImageRx().Replace(text, m =>
        {
            var src = m.Groups[2].Value;
            var path = dir is null || src.Contains("://", StringComparison.Ordinal) ? null : Path.Combine(dir, Uri.UnescapeDataString(src));
            if (path is null || !File.Exists(path) || !path.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) return m.Groups[1].Value;
            images.Add($"<img alt=\"{Html.E(m.Groups[1].Value)}\" src=\"{Html.DataUri(path)}\">");
            return $"@@IMG{images.Count - 1}@@";
        });
        text = LinkRx().Replace(text, m => m.Groups[1].Value);
        var s = Html.E(text);
        s = CodeRx().Replace(s, m => $"<code>{m.Groups[1].Value}</code>");
        s = BoldRx().Replace(s, m => $"<strong>{m.Groups[1].Value}</strong>");
        for (int i = 0; i < images.Count; i++) s = s.Replace($"@@IMG{i}@@", images[i]);
        return s;
    }
}
