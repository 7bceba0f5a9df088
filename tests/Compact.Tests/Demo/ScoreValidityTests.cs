using Compact.Demo;

namespace Compact.Tests.Demo;

public class ScoreValidityTests
{
    [Theory]
    // Positives {3, 2}, negatives {1, 2}: pairs 3>1, 3>2, 2>1 win, 2=2 ties (½): 3.5 / 4.
    [InlineData(new[] { 3.0, 2.0 }, new[] { 1.0, 2.0 }, 0.875)]
    [InlineData(new[] { 1.0 }, new[] { 2.0 }, 0.0)]
    [InlineData(new[] { 5.0, 5.0 }, new[] { 5.0 }, 0.5)]
    // {1, 4} vs {2, 3}: 1 loses both, 4 wins both: 2 / 4.
    [InlineData(new[] { 1.0, 4.0 }, new[] { 2.0, 3.0 }, 0.5)]
    public void Auc_is_the_probability_a_positive_outranks_a_negative(double[] pos, double[] neg, double expected) =>
        Assert.Equal(expected, ScoreValidity.Auc(pos, neg), 12);

    [Fact]
    public void Auc_of_an_empty_side_is_undefined() => Assert.True(double.IsNaN(ScoreValidity.Auc([1.0], [])));

    [Fact]
    public void Diagnostic_reads_the_metrics_log_and_scores_against_the_ground_truth()
    {
        using var dir = new TestUtil.TempDir();
        // Two steps of a COMPACT run as CompactObjective logs them; the replay question has no ground truth and is left out.
        File.WriteAllLines(dir["metrics.jsonl"],
        [
            """{"step":1,"loss":1.0,"items":[{"id":"q1","teachers":["concise","noisy"],"s_ppl":[1.0,2.0],"s_cons":[0.5,0.4],"s_mi":[0.1,0.3],"alpha":[0.7,0.3]},{"id":"replay-0","teachers":["concise","noisy"],"s_ppl":[9,9],"s_cons":[0,0],"s_mi":[0,0],"alpha":[0.5,0.5]}]}""",
            """{"step":2,"loss":0.9,"items":[{"id":"q2","teachers":["concise","shortcut"],"s_ppl":[1.5,0.5],"s_cons":[0.2,0.6],"s_mi":[0.2,0.0],"alpha":[0.6,0.4]}]}""",
        ]);
        Assert.Equal(6, ScoreValidity.ReadScoreLog(dir.Path).Count);
        TruthRecord T(string q, string t, string flaw) => new(q, t, new RationaleTruth(flaw, null, null, null, 10));
        var truth = new[] { T("q1", "concise", "none"), T("q1", "noisy", "hallucinated_step"), T("q2", "concise", "none"), T("q2", "shortcut", "no_reasoning") };
        var v = ScoreValidity.Analyse([dir.Path], truth);

        // Clean: (ppl 1.0, cons .5, mi .1, α .7) and (1.5, .2, .2, .6); hallucinated: (2.0, .4, .3, .3); no reasoning: (0.5, .6, 0, .4).
        // S_PPL is read negated (a low difficulty raises α): clean −1.0, −1.5 both above −2.0 → 1; both below −0.5 → 0.
        Assert.Equal(1.0, v.Auc("hallucinated_step", "s_ppl"));
        Assert.Equal(0.5, v.Auc("hallucinated_step", "s_cons"));    // .5 > .4, .2 < .4
        Assert.Equal(0.0, v.Auc("hallucinated_step", "s_mi"));      // .1, .2 < .3
        Assert.Equal(1.0, v.Auc("hallucinated_step", "alpha"));
        Assert.Equal(0.0, v.Auc("no_reasoning", "s_ppl"));          // works backwards
        Assert.Equal(0.0, v.Auc("no_reasoning", "s_cons"));
        Assert.Equal(1.0, v.Auc("no_reasoning", "s_mi"));
        // Any flaw: clean {−1.0, −1.5} vs flawed {−2.0, −0.5}: 2 of 4 pairs; S_cons {.5, .2} vs {.4, .6}: 1 of 4.
        Assert.Equal(0.5, v.Auc("any_flaw", "s_ppl"));
        Assert.Equal(0.25, v.Auc("any_flaw", "s_cons"));
        Assert.Equal(0.5, v.Auc("any_flaw", "s_mi"));
        Assert.Equal(1.0, v.Auc("any_flaw", "alpha"));
        // Mean α per teacher over training, replay excluded: concise (.7 + .6) / 2.
        Assert.Equal(0.65, v.MeanAlpha["concise"], 12);
        Assert.Equal(0.3, v.MeanAlpha["noisy"], 12);
        Assert.Equal(0.4, v.MeanAlpha["shortcut"], 12);
        var json = v.ToJson();
        Assert.Equal(0.25, json["auc"]!["any_flaw"]!["s_cons"]!.GetValue<double>());
    }
}

public class DemoVerdictTests
{
    [Fact]
    public void Seed_standard_error_is_the_sample_sd_over_root_n()
    {
        // 0.5 and 0.7: mean 0.6, sd √((0.01 + 0.01) / 1) = 0.1414, SE = 0.1414 / √2 = 0.1.
        var s = SeedStat.Of([0.5, 0.7]);
        Assert.Equal(0.6, s.Mean, 12);
        Assert.Equal(0.1, s.Se!.Value, 12);
        Assert.Null(SeedStat.Of([0.5]).Se);
    }

    [Fact]
    public void Verdict_names_wins_losses_and_ties_from_two_standard_errors()
    {
        PairedDiff[] paired =
        [
            new("uniform", "in-distribution", 0.10, 0.02, 0.03, 2),          // SE 0.03: +10 > 2·3 → win
            new("single-concise", "in-distribution", -0.08, 0.02, 0.01, 2),  // SE 0.02: −8 < −4 → loss
            new("uniform", "facts", 0.01, 0.02, 0.01, 2),                    // SE 0.02: |1| ≤ 4 → indistinguishable
        ];
        Assert.Equal("On in-distribution, COMPACT beats uniform (+10.0 ± 3.0 pts); trails single-concise (−8.0 ± 2.0 pts). "
            + "On facts, COMPACT is indistinguishable from uniform (+1.0 ± 2.0 pts).", DemoReport.Verdict(paired, ["in-distribution", "facts"]));
        Assert.Equal("No difference between COMPACT and any baseline is distinguishable from noise: every paired difference is within two standard errors "
            + "of zero (largest: uniform (+1.0 ± 2.0 pts) on facts).", DemoReport.Verdict([paired[2]], ["facts"]));
    }
}
