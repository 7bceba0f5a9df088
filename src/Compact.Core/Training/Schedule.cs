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

/// <summary>The order in which a run visits its data: epoch e shuffles item indices with a generator seeded by
/// (seed, e) and cuts them into micro-batches; an optimizer step takes `accum` consecutive micro-batches
/// (crossing epoch boundaries). Position k (0-based micro-batch count) is therefore a pure function of
/// (seed, k), which is what makes resuming exact.</summary>
public sealed class DataOrder
{
    readonly int _items, _batch;
    readonly long _seed;
    readonly bool _shuffle;
    readonly Dictionary<int, int[][]> _epochs = new();

    public DataOrder(int items, int microBatch, long seed, bool shuffle = true)
    {
        if (items <= 0) throw new CompactException("the training data has no usable examples.");
        _items = items; _batch = Math.Max(1, microBatch); _seed = seed; _shuffle = shuffle;
    }

    public int MicroBatchesPerEpoch => (_items + _batch - 1) / _batch;

    public int[][] Epoch(int e)
    {
        if (_epochs.TryGetValue(e, out var cached)) return cached;
        var idx = Enumerable.Range(0, _items).ToArray();
        if (_shuffle) new Random(Seeds.Mix(_seed, e)).Shuffle(idx);
        var batches = idx.Chunk(_batch).ToArray();
        if (_epochs.Count > 4) _epochs.Clear();
        _epochs[e] = batches;
        return batches;
    }

    /// <summary>(epoch, micro-batch) of the k-th micro-batch of the run.</summary>
    public (int Epoch, int[] Items) At(long k)
    {
        int e = (int)(k / MicroBatchesPerEpoch);
        return (e, Epoch(e)[(int)(k % MicroBatchesPerEpoch)]);
    }
}

/// <summary>Deterministic seed mixing (HashCode is randomised per process, so it cannot be used for seeds).</summary>
public static class Seeds
{
    public static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    public static int Mix(long a, long b) => (int)(SplitMix(SplitMix((ulong)a) ^ (ulong)b) & 0x7FFFFFFF);
}
