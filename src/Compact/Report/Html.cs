using System.Globalization;
using System.Text;

namespace Compact.Report;

/// <summary>Renders a <see cref="ReportDocument"/> as one self-contained HTML page: inline CSS, images as base64 data
/// URIs, no scripts, nothing fetched from elsewhere.</summary>
public static class Html
{
    public static string DataUri(string pngPath) => "data:image/png;base64," + Convert.ToBase64String(File.ReadAllBytes(pngPath));

    /// <summary>Escapes the five HTML-special characters; everything else stays as UTF-8 text.</summary>
    public static string E(string s)
    {
        if (s.AsSpan().IndexOfAny("<>&\"'") < 0) return s;
        var sb = new StringBuilder(s.Length + 16);
        foreach (var c in s)
            sb.Append(c switch { '<' => "&lt;", '>' => "&gt;", '&' => "&amp;", '"' => "&quot;", '\'' => "&#39;", _ => c.ToString() });
        return sb.ToString();
    }

    const string Css = """
        :root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #f6f8fa; --accent: #0969da; }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); color: var(--fg);
               font: 15px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
        main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
        h1 { font-size: 28px; margin: 8px 0 4px; }
        h2 { font-size: 22px; margin: 0 0 4px; }
        h3 { font-size: 17px; margin: 22px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
        h4, h5, h6 { font-size: 15px; margin: 16px 0 6px; }
        .meta, .path { color: var(--muted); font-size: 13px; }
        .path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; margin-bottom: 8px; }
        .kind { display: inline-block; font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em;
                color: #fff; background: var(--accent); border-radius: 10px; padding: 1px 9px; margin-right: 8px; vertical-align: 3px; }
        .kind.eval { background: #1a7f37; } .kind.analysis { background: #8250df; }
        section.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 20px 24px; margin: 20px 0; }
        nav ul { margin: 6px 0; padding-left: 20px; columns: 2; }
        nav a, a { color: var(--accent); text-decoration: none; }
        .scroll { overflow-x: auto; margin: 8px 0 12px; }
        table { border-collapse: collapse; font-size: 14px; }
        caption { text-align: left; font-weight: 600; padding: 4px 0; color: var(--muted); }
        th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
        th { background: var(--bg); font-weight: 600; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        dl.kv { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 0; margin: 8px 0 12px;
                border-top: 1px solid var(--line); border-left: 1px solid var(--line); }
        dl.kv > div { display: flex; justify-content: space-between; gap: 12px; padding: 4px 10px;
                      border-right: 1px solid var(--line); border-bottom: 1px solid var(--line); }
        dl.kv dt { color: var(--muted); white-space: nowrap; }
        dl.kv dd { margin: 0; text-align: right; overflow-wrap: anywhere; font-variant-numeric: tabular-nums; }
        .cap { font-weight: 600; color: var(--muted); padding: 4px 0; }
        figure.wide { grid-column: 1 / -1; }
        .figs { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; margin: 10px 0; }
        figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: #fff; }
        figure img, p img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
        figcaption { font-size: 13px; color: var(--muted); text-align: center; margin-top: 4px; }
        pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow-x: auto; font-size: 12.5px; }
        code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 90%; }
        details { margin: 10px 0; } summary { cursor: pointer; color: var(--muted); }
        .md { border-left: 3px solid var(--line); padding-left: 14px; }
        footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 30px; }
        """;

    public static string Render(ReportDocument doc)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
          .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
          .Append("<title>").Append(E(doc.Title)).Append("</title>\n<style>\n").Append(Css).Append("\n</style>\n</head>\n<body>\n<main>\n");
        sb.Append("<h1>").Append(E(doc.Title)).Append("</h1>\n");
        sb.Append("<div class=\"meta\">Generated ").Append(E(doc.Created.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture))).Append(" by <code>compact report</code> · ")
          .Append(doc.Sections.Count).Append(doc.Sections.Count == 1 ? " section" : " sections").Append("</div>\n");
        if (doc.Sections.Count > 1)
        {
            sb.Append("<nav><ul>\n");
            foreach (var s in doc.Sections) sb.Append(CultureInfo.InvariantCulture, $"<li><a href=\"#{s.Anchor}\">").Append(E(s.Title)).Append("</a></li>\n");
            sb.Append("</ul></nav>\n");
        }
        if (doc.Overview is not null)
        {
            sb.Append("<section class=\"card\"><h2>Overview</h2>\n");
            Table(sb, doc.Overview);
            sb.Append("</section>\n");
        }
        foreach (var s in doc.Sections)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<section class=\"card\" id=\"{s.Anchor}\">\n<h2><span class=\"kind {E(s.Kind)}\">").Append(E(s.Kind)).Append("</span>")
              .Append(E(s.Title)).Append("</h2>\n<div class=\"path\">").Append(E(Path.GetFullPath(s.Dir))).Append("</div>\n");
            Blocks(sb, s.Blocks);
            sb.Append("</section>\n");
        }
        sb.Append("<footer>Self-contained page: every image is embedded.</footer>\n</main>\n</body>\n</html>\n");
        return sb.ToString();
    }

    static void Blocks(StringBuilder sb, List<Block> blocks)
    {
        for (int i = 0; i < blocks.Count; i++)
        {
            switch (blocks[i])
            {
                case ImageBlock:
                    // Consecutive images share a responsive grid.
                    sb.Append("<div class=\"figs\">\n");
                    for (; i < blocks.Count && blocks[i] is ImageBlock img; i++)
                        sb.Append(img.Wide ? "<figure class=\"wide\"><img alt=\"" : "<figure><img alt=\"").Append(E(img.Caption)).Append("\" src=\"").Append(DataUri(img.Path)).Append("\"><figcaption>")
                          .Append(E(img.Caption)).Append("</figcaption></figure>\n");
                    i--;
                    sb.Append("</div>\n");
                    break;
                case Heading h:
                    sb.Append("<h3>").Append(E(h.Text)).Append("</h3>\n");
                    break;
                case Para p:
                    sb.Append("<p>").Append(E(p.Text)).Append("</p>\n");
                    break;
                case KeyValues kv:
                    if (kv.Caption is not null) sb.Append("<div class=\"cap\">").Append(E(kv.Caption)).Append("</div>");
                    sb.Append("<dl class=\"kv\">\n");
                    foreach (var (k, v) in kv.Items) sb.Append("<div><dt>").Append(E(k)).Append("</dt><dd>").Append(E(v)).Append("</dd></div>\n");
                    sb.Append("</dl>\n");
                    break;
                case TableBlock t:
                    Table(sb, t);
                    break;
                case MarkdownBlock md:
                    sb.Append("<div class=\"md\">\n").Append(Markdown.ToHtml(md.Source, md.Dir)).Append("</div>\n");
                    break;
                case Details d:
                    sb.Append("<details><summary>").Append(E(d.Summary)).Append("</summary><pre><code>").Append(E(d.Text)).Append("</code></pre></details>\n");
                    break;
            }
        }
    }

    static void Table(StringBuilder sb, TableBlock t)
    {
        sb.Append("<div class=\"scroll\"><table>");
        if (t.Caption is not null) sb.Append("<caption>").Append(E(t.Caption)).Append("</caption>");
        sb.Append("<thead><tr>");
        foreach (var h in t.Headers) sb.Append("<th>").Append(E(h)).Append("</th>");
        sb.Append("</tr></thead><tbody>\n");
        foreach (var r in t.Rows)
        {
            sb.Append("<tr>");
            for (int c = 0; c < t.Headers.Count; c++)
            {
                var cell = c < r.Count ? r[c] : "";
                sb.Append(c > 0 && Markdown.LooksNumeric(cell) ? "<td class=\"num\">" : "<td>").Append(E(cell)).Append("</td>");
            }
            sb.Append("</tr>\n");
        }
        sb.Append("</tbody></table></div>\n");
    }
}
