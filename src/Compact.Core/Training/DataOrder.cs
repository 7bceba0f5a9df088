namespace Compact.Training;

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
        return FirstFitDecreasing(itemTokens, maxTokens);
    }

    /// <summary>First-fit decreasing: items longest first (ties by index), each into the first bin with room for it
    /// (a new bin when none; an item larger than capacity gets one of its own). Each bin lists its items in the order
    /// they went in, so an item's offset in its bin is the sum of the sizes before it.</summary>
    public static int[][] FirstFitDecreasing(IReadOnlyList<int> sizes, int capacity)
    {
        var bins = new List<List<int>>();
        var fill = new List<int>();
        foreach (int i in Enumerable.Range(0, sizes.Count).OrderByDescending(i => sizes[i]).ThenBy(i => i))
        {
            int b = fill.FindIndex(f => f + sizes[i] <= capacity);
            if (b < 0) { b = fill.Count; fill.Add(0); bins.Add([]); }
            fill[b] += sizes[i];
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
