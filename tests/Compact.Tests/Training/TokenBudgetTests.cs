using Compact.Training;

namespace Compact.Tests.Training;

public class TokenBudgetTests
{
    [Fact]
    public void Items_are_packed_first_fit_decreasing_within_the_budget()
    {
        // Tokens 300, 900, 500, 400, 200 with a budget of 1000, longest first: 900 → bin 0 (900); 500 → bin 1 (500);
        // 400 → bin 1 (900); 300 → bin 2 (300); 200 → bin 2 (500). Ties keep the item order.
        var bins = DataOrder.PackBins([300, 900, 500, 400, 200], 1000);
        Assert.Equal([[1], [2, 3], [0, 4]], bins);
    }

    [Fact]
    public void Every_epoch_visits_every_bin_once_in_a_seeded_order()
    {
        var tokens = new[] { 5, 3, 8, 2, 7, 4, 6, 1 };
        var a = new DataOrder(tokens, 10, seed: 3);
        var bins = DataOrder.PackBins(tokens, 10);
        Assert.Equal(bins.Length, a.MicroBatchesPerEpoch);
        for (int e = 0; e < 3; e++)
        {
            var epoch = Enumerable.Range(0, a.MicroBatchesPerEpoch).Select(k => a.At(e * a.MicroBatchesPerEpoch + k)).ToList();
            Assert.All(epoch, x => Assert.Equal(e, x.Epoch));
            Assert.Equal(Enumerable.Range(0, 8), epoch.SelectMany(x => x.Items).Order());
            Assert.All(epoch, x => Assert.True(x.Items.Sum(i => tokens[i]) <= 10));
        }
        var b = new DataOrder(tokens, 10, seed: 3);
        Assert.Equal(a.At(5).Items, b.At(5).Items);                      // a pure function of (seed, k): resumable
    }

    [Fact]
    public void A_question_over_the_budget_is_refused_with_the_fix()
    {
        var e = Assert.Throws<CompactException>(() => new DataOrder([100, 700, 300], 500, seed: 1));
        Assert.Equal("--max-tokens-per-batch 500 is below the longest question (item 1: 700 tokens over all its branches); raise it to at least 700 or lower --max-seq-len.", e.Message);
    }
}
