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
/// (seed, k), which is what makes resuming exact. With a token budget the micro-batches are instead bins of items
/// packed by length once (first-fit decreasing, each bin's tokens within the budget), and each epoch shuffles the
/// order of the bins.</summary>
public sealed class DataOrder
{
    readonly int _items, _batch;
    readonly long _seed;
    readonly bool _shuffle;
    readonly int[][]? _bins;
    readonly Dictionary<int, int[][]> _epochs = new();

    public DataOrder(int items, int microBatch, long seed, bool shuffle = true)
    {
        if (items <= 0) throw new CompactException("the training data has no usable examples.");
        _items = items; _batch = Math.Max(1, microBatch); _seed = seed; _shuffle = shuffle;
    }

    /// <param name="itemTokens">Tokens of each item (a question: all its branches).</param>
    /// <param name="maxTokens">The most tokens a micro-batch may hold (--max-tokens-per-batch).</param>
    public DataOrder(IReadOnlyList<int> itemTokens, int maxTokens, long seed, bool shuffle = true) : this(itemTokens.Count, 1, seed, shuffle)
    {
        if (maxTokens < 1) throw new CompactException($"--max-tokens-per-batch must be at least 1 (got {maxTokens}).");
        _bins = PackBins(itemTokens, maxTokens);
    }

    /// <summary>First-fit decreasing: items longest first, each into the first bin it fits in (a new one when none);
    /// bins and the items in them in a deterministic order. An item over the budget is an error.</summary>
    public static int[][] PackBins(IReadOnlyList<int> itemTokens, int maxTokens)
    {
        int longest = Enumerable.Range(0, itemTokens.Count).MaxBy(i => itemTokens[i]);
        if (itemTokens[longest] > maxTokens)
            throw new CompactException($"--max-tokens-per-batch {maxTokens} is below the longest question (item {longest}: {itemTokens[longest]} tokens over all its branches); raise it to at least {itemTokens[longest]} or lower --max-seq-len.");
        var bins = new List<List<int>>();
        var fill = new List<int>();
        foreach (int i in Enumerable.Range(0, itemTokens.Count).OrderByDescending(i => itemTokens[i]).ThenBy(i => i))
        {
            int b = fill.FindIndex(f => f + itemTokens[i] <= maxTokens);
            if (b < 0) { b = fill.Count; fill.Add(0); bins.Add([]); }
            fill[b] += itemTokens[i];
            bins[b].Add(i);
        }
        return bins.Select(x => x.ToArray()).ToArray();
    }

    /// <summary>The order for a recipe and the engine's options: a token budget when one is set, else --batch-size items.</summary>
    public static DataOrder For(ITrainRecipe recipe, EngineOptions o) => o.MaxTokensPerBatch is { } mt
        ? new DataOrder(recipe.ItemTokens ?? throw new CompactException("--max-tokens-per-batch is not available for this training mode; use --batch-size."), mt, o.Seed, o.Shuffle)
        : new DataOrder(recipe.ItemCount, o.MicroBatch, o.Seed, o.Shuffle);

    public int MicroBatchesPerEpoch => _bins?.Length ?? (_items + _batch - 1) / _batch;

    public int[][] Epoch(int e)
    {
        if (_epochs.TryGetValue(e, out var cached)) return cached;
        int[][] batches;
        if (_bins is not null)
        {
            batches = (int[][])_bins.Clone();
            if (_shuffle) new Random(Seeds.Mix(_seed, e)).Shuffle(batches);
        }
        else
        {
            var idx = Enumerable.Range(0, _items).ToArray();
            if (_shuffle) new Random(Seeds.Mix(_seed, e)).Shuffle(idx);
            batches = idx.Chunk(_batch).ToArray();
        }
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
