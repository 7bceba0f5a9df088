using System.Globalization;
using System.Text;
using Compact.Util;

namespace Compact.Report;

/// <summary>Renders a <see cref="ReportDocument"/> as a markdown summary whose images are linked relative to the
/// folder the markdown is written to.</summary>
public static class MarkdownWriter
{
    /// <summary>Image links of a markdown file in dir, re-pointed so that they resolve from outDir.</summary>
    static string RelinkImages(string line, string dir, string outDir) => System.Text.RegularExpressions.Regex.Replace(line, @"!\[([^\]]*)\]\(([^)\s]+)\)", m =>
    {
        var src = m.Groups[2].Value;
        if (src.Contains("://", StringComparison.Ordinal) || Path.IsPathRooted(src)) return m.Value;
        var full = Path.GetFullPath(Path.Combine(dir, Uri.UnescapeDataString(src)));
        return $"![{m.Groups[1].Value}]({Rel(outDir, full)})";
    });

    static string Rel(string outDir, string path) =>
        Uri.EscapeDataString(Path.GetRelativePath(Path.GetFullPath(outDir), Path.GetFullPath(path)).Replace('\\', '/')).Replace("%2F", "/");

    public static string Render(ReportDocument doc, string outDir)
    {
        var sb = new StringBuilder();
        sb.Append("# ").Append(doc.Title).Append("\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"Generated {doc.Created:yyyy-MM-dd HH:mm} by `compact report`.\n\n");
        if (doc.Overview is not null) sb.Append("## Overview\n\n").Append(Tables.Markdown(doc.Overview.Headers, doc.Overview.Rows)).Append('\n');
        foreach (var s in doc.Sections)
        {
            sb.Append(CultureInfo.InvariantCulture, $"## {s.Kind}: {s.Title}\n\n`{Path.GetFullPath(s.Dir)}`\n\n");
            foreach (var b in s.Blocks)
            {
                switch (b)
                {
                    case Heading h:
                        sb.Append("### ").Append(h.Text).Append("\n\n");
                        break;
                    case Para p:
                        sb.Append(p.Text).Append("\n\n");
                        break;
                    case KeyValues kv:
                        if (kv.Caption is not null) sb.Append(CultureInfo.InvariantCulture, $"**{kv.Caption}**\n\n");
                        sb.Append(Tables.Markdown(["setting", "value"], kv.Items.Select(x => (IReadOnlyList<string>)[x.Key, x.Value]))).Append('\n');
                        break;
                    case TableBlock t:
                        if (t.Caption is not null) sb.Append(CultureInfo.InvariantCulture, $"**{t.Caption}**\n\n");
                        sb.Append(Tables.Markdown(t.Headers, t.Rows)).Append('\n');
                        break;
                    case ImageBlock img:
                        sb.Append(CultureInfo.InvariantCulture, $"![{img.Caption}]({Rel(outDir, img.Path)})\n\n");
                        break;
                    case MarkdownBlock md:
                        // Demote its headings below this section's.
                        foreach (var line in md.Source.Replace("\r\n", "\n").Split('\n'))
                            sb.Append(RelinkImages(line.StartsWith('#') ? "###" + line : line, md.Dir, outDir)).Append('\n');
                        sb.Append('\n');
                        break;
                    case Details { File: { } file } d:
                        sb.Append(CultureInfo.InvariantCulture, $"{d.Summary}: [{Path.GetFileName(file)}]({Rel(outDir, file)})\n\n");
                        break;
                    case Details d:
                        sb.Append(CultureInfo.InvariantCulture, $"<details><summary>{d.Summary}</summary>\n\n```json\n{d.Text}\n```\n\n</details>\n\n");
                        break;
                }
            }
        }
        return sb.ToString();
    }
}
