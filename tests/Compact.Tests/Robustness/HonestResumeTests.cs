using System.Text.Json.Nodes;
using Compact.Cli;
using Compact.Tests.Training;
using Compact.Training;

namespace Compact.Tests.Robustness;

/// <summary>Resume continues only the same run (judged by contents, not path spelling), metrics describe exactly the
/// steps the weights went through, and a damaged checkpoint falls back to the one before it.</summary>
public class HonestResumeTests
{
    static (int Code, string Out, string Err) Run(params string[] args) => TestUtil.RunCli(args);

    static string[] Sft(string model, string data, string outDir, params string[] extra) =>
        ["sft", "--model", model, "--data", data, "--out", outDir, .. extra.Contains("--max-steps") ? [] : new[] { "--max-steps", "6" }, "--lr", "5e-3", "--batch-size", "4",
         "--lora-r", "2", "--max-seq-len", "64", "--seed", "3", .. extra];

    static int[] Steps(string run) =>
        File.ReadAllLines(Path.Combine(run, Engine.MetricsFile)).Select(l => JsonNode.Parse(l)!["step"]!.GetValue<int>()).ToArray();

    [Fact]
    public void A_run_killed_before_its_first_checkpoint_leaves_no_stale_metrics_in_the_next_run()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var data = SftTests.Data(dir, 8);
        Assert.Equal(130, Run(Sft(model, data, dir["r"], "--stop-after", "2")).Code);
        // kill -9 before the first checkpoint: metrics lines 1, 2 and TensorBoard events exist, no checkpoint does.
        Directory.Delete(dir["r/checkpoints"], true);
        var again = Run(Sft(model, data, dir["r"], "--max-steps", "4"));
        Assert.True(again.Code == 0, again.Err);
        Assert.Equal([1, 2, 3, 4], Steps(dir["r"]));                          // not 1, 2, 1, 2, 3, 4
        Assert.Single(Directory.GetFiles(dir["r/tb"]));
    }

    [Fact]
    public void Resume_cuts_metrics_and_tensorboard_back_to_the_checkpoint()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var data = SftTests.Data(dir, 8);
        Assert.Equal(130, Run(Sft(model, data, dir["r"], "--stop-after", "4", "--save-every", "2")).Code);
        // Lose the step-4 checkpoint (a kill after the metrics line, before the checkpoint's rename).
        Directory.Delete(dir["r/checkpoints/step-000004"], true);
        var resumed = Run(Sft(model, data, dir["r"], "--resume"));
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Contains("from step 2 of 6", resumed.Out);
        Assert.Equal([1, 2, 3, 4, 5, 6], Steps(dir["r"]));
        Assert.Single(Directory.GetFiles(dir["r/tb"]));                      // one event log, rebuilt to step 2 then continued
    }

    [Fact]
    public void Resume_ignores_path_spelling_and_a_moved_run_folder_but_refuses_changed_data()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var data = SftTests.Data(dir, 8);
        Assert.Equal(130, Run(Sft(model, data, dir["r"], "--stop-after", "2")).Code);
        Directory.Move(dir["r"], dir["moved"]);
        // The same model and data, spelled relative to the working folder (with ./), in a moved run folder.
        string Rel(string p) => "." + Path.DirectorySeparatorChar + Path.GetRelativePath(Environment.CurrentDirectory, p);
        var ok = Run(Sft(Rel(model), Rel(data), dir["moved"], "--resume", "--stop-after", "1"));
        Assert.True(ok.Code is 0 or 130, ok.Err);
        Assert.Contains("from step 2 of 6", ok.Out);

        // The same path, but reordered and extended data: a different run.
        var lines = File.ReadAllLines(data);
        File.WriteAllLines(data, lines.Reverse().Append(lines[0]));
        var changed = Run(Sft(model, data, dir["moved"], "--resume"));
        Assert.Equal(1, changed.Code);
        Assert.Contains("data (its contents changed)", changed.Err);
    }

    [Theory]
    [InlineData("optimizer.bin")]
    [InlineData("trainer_state.json")]
    public void A_damaged_latest_checkpoint_falls_back_to_the_previous_one_saying_so(string victim)
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var data = SftTests.Data(dir, 8);
        Assert.Equal(130, Run(Sft(model, data, dir["r"], "--stop-after", "4", "--save-every", "2")).Code);
        var latest = dir["r/checkpoints/step-000004"];
        var f = Path.Combine(latest, victim);
        using (var fs = new FileStream(f, FileMode.Open)) fs.SetLength(fs.Length / 2);     // a write cut short
        Directory.CreateDirectory(dir["r/checkpoints/.tmp-step-000006-stale"]);                  // left by ENOSPC
        var resumed = Run(Sft(model, data, dir["r"], "--resume"));
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Contains($"{victim}", resumed.Out);
        Assert.Contains("damaged", resumed.Out);
        Assert.Contains("from step 2 of 6", resumed.Out);
        Assert.Equal([1, 2, 3, 4, 5, 6], Steps(dir["r"]));
        Assert.Empty(Directory.GetDirectories(dir["r/checkpoints"], ".tmp-step-*"));
        Assert.True(Directory.Exists(dir["r/checkpoints/damaged-step-000004"]));           // kept for inspection, not loaded
    }
}
