namespace Compact.Util;

/// <summary>One line of a chart: a name and its points.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

/// <summary>Draws line charts to image files. The library computes what to draw (loss curves, teacher weights) and
/// the pipeline supplies the drawing (ScottPlot), so the tensor library references no plotting package.</summary>
public interface ILineCharts
{
    void Lines(string path, string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series);
}
