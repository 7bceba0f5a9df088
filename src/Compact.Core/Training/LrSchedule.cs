namespace Compact.Training;

public enum ScheduleKind { Cosine, Constant, Linear }

/// <summary>Learning rate for optimizer update number `step` (1-based): linear warm-up from peak/warmup to
/// peak over the first `warmup` updates, then cosine or linear decay to peak·minRatio at `total`, or constant.
/// (HF's schedulers count from 0 and give the first update a learning rate of 0; this one does not.)</summary>
public sealed record LrSchedule(ScheduleKind Kind, double Peak, int Warmup, int Total, double MinRatio = 0.0)
{
    public double At(int step)
    {
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), "steps are 1-based");
        if (Warmup > 0 && step <= Warmup) return Peak * step / Warmup;
        if (Kind == ScheduleKind.Constant) return Peak;
        int span = Math.Max(1, Total - Warmup);
        double progress = Math.Clamp((double)(step - Warmup) / span, 0, 1);
        double min = Peak * MinRatio;
        return Kind switch
        {
            ScheduleKind.Cosine => min + (Peak - min) * 0.5 * (1 + Math.Cos(Math.PI * progress)),
            _ => Peak + (min - Peak) * progress,
        };
    }

    public static ScheduleKind Parse(string s) => s.ToLowerInvariant() switch
    {
        "cosine" => ScheduleKind.Cosine,
        "constant" => ScheduleKind.Constant,
        "linear" => ScheduleKind.Linear,
        _ => throw new CompactException($"unknown schedule '{s}'; use cosine, constant or linear."),
    };
}
