using Compact.Training;
using Compact.Util;

namespace Compact.Distill;

/// <summary>Teacher-weight curves (the paper's Figure 3): mean α per teacher per step, from the metrics log.</summary>
public static class TeacherCurves
{
    /// <summary>Reads alpha_mean from metrics.jsonl: per teacher, (step, mean α) points.</summary>
    public static Dictionary<string, List<(int Step, double Alpha)>> Read(string runDir)
    {
        var curves = new Dictionary<string, List<(int, double)>>();
        foreach (var r in StepRecord.ReadAll(Path.Combine(runDir, Engine.MetricsFile)))
            foreach (var (t, a) in r.AlphaMean ?? new Dictionary<string, double>())
            {
                if (!curves.TryGetValue(t, out var list)) curves[t] = list = new();
                list.Add((r.Step, a));
            }
        return curves;
    }

    /// <summary>teacher_weights.png: each teacher's mean α per step, smoothed by a trailing mean over ~5% of the run.</summary>
    public static string? Plot(string runDir, ILineCharts charts, string title = "Teacher weights during training")
    {
        var curves = Read(runDir);
        if (curves.Count == 0) return null;
        int steps = curves.Values.Max(c => c.Count);
        int window = Math.Max(1, steps / 20);
        var series = curves.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv =>
        {
            var ys = kv.Value.Select(p => p.Alpha).ToList();
            var smooth = ys.Select((_, i) => ys.Skip(Math.Max(0, i - window + 1)).Take(Math.Min(window, i + 1)).Average()).ToList();
            return new ChartSeries(kv.Key, kv.Value.Select(p => (double)p.Step).ToList(), smooth);
        }).ToList();
        var path = Path.Combine(runDir, "teacher_weights.png");
        charts.Lines(path, title, "optimizer step", $"mean α (trailing mean of {window} steps)", series);
        return path;
    }
}
