using Compact.IO;

namespace Compact.Util;

/// <summary>PNG charts (ScottPlot) written atomically.</summary>
public static class Plots
{
    /// <summary>The library's charts (loss curves, teacher weights) drawn with ScottPlot.</summary>
    public static ILineCharts Charts { get; } = new ScottPlotCharts();

    sealed class ScottPlotCharts : ILineCharts
    {
        public void Lines(string path, string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series) =>
            Plots.Lines(path, title, xLabel, yLabel, series.Select(s => new Series(s.Name, s.X, s.Y)));
    }

    public sealed record Series(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y, bool Markers = false);

    public static void Lines(string path, string title, string xLabel, string yLabel, IEnumerable<Series> series, int width = 800, int height = 450,
        IReadOnlyList<(double X, string Label)>? markers = null, bool integerX = false)
    {
        var plt = new ScottPlot.Plot();
        if (integerX) plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        int n = 0;
        foreach (var s in series)
        {
            if (s.X.Count == 0) continue;
            var sc = plt.Add.Scatter(s.X.ToArray(), s.Y.ToArray());
            sc.LegendText = s.Name;
            sc.MarkerSize = s.Markers || s.X.Count < 30 ? 4 : 0;
            n++;
        }
        // Room between the title and the data area for the marker labels.
        if (markers is not null && markers.Any(m => !string.IsNullOrEmpty(m.Label))) plt.Axes.Top.MinimumSize = 30;
        if (markers is not null)
            foreach (var (x, label) in markers)
            {
                var v = plt.Add.VerticalLine(x);
                v.LineWidth = 1;
                v.Color = ScottPlot.Colors.Gray.WithAlpha(0.6);
                v.LinePattern = ScottPlot.LinePattern.Dashed;
                // Labels along the top edge, clear of the x-axis tick labels.
                v.LabelOppositeAxis = true;
                if (!string.IsNullOrEmpty(label)) v.Text = label;
            }
        Finish(plt, path, title, xLabel, yLabel, n > 1, width, height);
    }

    public static void Bars(string path, string title, string yLabel, IReadOnlyList<(string Label, double Value, double Error)> bars, int width = 800, int height = 450)
    {
        var plt = new ScottPlot.Plot();
        var list = new List<ScottPlot.Bar>();
        for (int i = 0; i < bars.Count; i++)
            list.Add(new ScottPlot.Bar { Position = i, Value = bars[i].Value, Error = bars[i].Error });
        plt.Add.Bars(list);
        plt.Axes.Bottom.SetTicks(Enumerable.Range(0, bars.Count).Select(i => (double)i).ToArray(), bars.Select(b => b.Label).ToArray());
        plt.Axes.Bottom.TickLabelStyle.Rotation = bars.Count > 6 ? 30 : 0;
        plt.Axes.Margins(bottom: 0);
        Finish(plt, path, title, "", yLabel, false, width, height);
    }

    /// <param name="centroids">Also mark each group's mean point with a large outlined marker in the group's colour.</param>
    public static void Scatter(string path, string title, string xLabel, string yLabel, IEnumerable<Series> groups, int width = 700, int height = 600,
        bool centroids = false)
    {
        var plt = new ScottPlot.Plot();
        int n = 0;
        foreach (var g in groups)
        {
            var sc = plt.Add.ScatterPoints(g.X.ToArray(), g.Y.ToArray());
            sc.LegendText = g.Name;
            sc.MarkerSize = 6;
            if (centroids && g.X.Count > 0)
            {
                var c = plt.Add.Marker(g.X.Average(), g.Y.Average(), ScottPlot.MarkerShape.OpenDiamond, 18, sc.Color);
                c.MarkerLineWidth = 3;
            }
            n++;
        }
        Finish(plt, path, title, xLabel, yLabel, n > 1, width, height);
    }

    static void Finish(ScottPlot.Plot plt, string path, string title, string x, string y, bool legend, int w, int h)
    {
        plt.Title(title);
        if (x.Length > 0) plt.XLabel(x);
        if (y.Length > 0) plt.YLabel(y);
        if (legend) plt.ShowLegend();
        var tmp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.png");
        Directory.CreateDirectory(Path.GetDirectoryName(tmp)!);
        plt.SavePng(tmp, w, h);
        File.Move(tmp, path, overwrite: true);
    }
}
