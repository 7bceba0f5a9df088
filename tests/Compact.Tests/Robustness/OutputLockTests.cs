using Compact.Cli;
using Compact.Util;

namespace Compact.Tests.Robustness;

/// <summary>One writer per output: the OS lock refuses a second writer, names the holder, is released on exit
/// and taken over from a dead process.</summary>
public class OutputLockTests
{
    static (int Code, string Out, string Err) Run(params string[] args) => TestUtil.RunCli(args);

    [Fact]
    public void A_second_sft_on_a_held_run_folder_is_refused_naming_the_holders_pid()
    {
        using var dir = new TestUtil.TempDir();
        using (var held = OutputLock.ForFolder(dir["run"], what: "compact sft"))
        {
            // The refusal comes before the model or data are opened (neither exists here).
            var r = Run("sft", "--model", dir["no-model"], "--data", dir["no-data.jsonl"], "--out", dir["run"]);
            Assert.Equal(1, r.Code);
            Assert.Contains($"PID {Environment.ProcessId}", r.Err);
            Assert.Contains("--out", r.Err);
            Assert.Single(r.Err.Trim().Split('\n'));
            // A second in-process attempt hits the same OS lock.
            var ex = Assert.Throws<CompactException>(() => OutputLock.ForFolder(dir["run"]));
            Assert.Contains("compact sft", ex.Message);
        }
        // Released: the folder can be taken again, and the lock files are gone with the holder.
        using (var again = OutputLock.ForFolder(dir["run"])) Assert.Null(again.TookOverFrom);
        Assert.False(File.Exists(Path.Combine(dir["run"], OutputLock.FolderLockName)));
    }

    [Fact]
    public void A_dataset_file_being_written_refuses_a_second_teach_and_data_import()
    {
        using var dir = new TestUtil.TempDir();
        var ds = dir["ds.jsonl"];
        using var held = OutputLock.ForFile(ds, what: "compact teach");
        var teach = Run("teach", "--questions", dir["q.jsonl"], "--teachers", dir["t.yaml"], "--out", ds);
        Assert.Equal(1, teach.Code);
        Assert.Contains($"PID {Environment.ProcessId}", teach.Err);
        var import = Run("data", "import", dir["x.json"], "--out", ds);
        Assert.Equal(1, import.Code);
        Assert.Contains($"PID {Environment.ProcessId}", import.Err);
    }

    [Fact]
    public void A_lock_left_by_a_dead_process_is_taken_over()
    {
        using var dir = new TestUtil.TempDir();
        Directory.CreateDirectory(dir["run"]);
        // What kill -9 leaves: the lock file and its owner note, but no OS lock (the kernel dropped it with the process).
        var lockPath = Path.Combine(dir["run"], OutputLock.FolderLockName);
        File.WriteAllText(lockPath, "");
        File.WriteAllText(lockPath + ".owner", "999999\ncompact sft\n");
        using var l = OutputLock.ForFolder(dir["run"]);
        Assert.Equal(999999, l.TookOverFrom);
        Assert.StartsWith($"{Environment.ProcessId}\n", File.ReadAllText(lockPath + ".owner"));
    }

    [Fact]
    public void Out_that_is_a_file_where_a_folder_is_expected_is_one_line_naming_it()
    {
        using var dir = new TestUtil.TempDir();
        File.WriteAllText(dir["afile"], "x");
        var r = Run("sft", "--model", dir["m"], "--data", dir["d.jsonl"], "--out", dir["afile"]);
        Assert.Equal(1, r.Code);
        Assert.Contains($"--out {dir["afile"]} is a file", r.Err);
        Assert.DoesNotContain("Exception", r.Err);
    }

    [Fact]
    public void A_file_system_failure_mid_command_is_one_line_naming_the_path()
    {
        using var dir = new TestUtil.TempDir();
        Directory.CreateDirectory(dir["run"]);
        File.WriteAllText(dir["run/metrics.jsonl"], "{\"step\":1,\"loss\":2.5}\n{\"step\":2,\"loss\":2.0}\n");
        Directory.CreateDirectory(dir["run/report.html"]);                // a folder where the report file must go
        var r = Run("report", dir["run"]);
        Assert.Equal(1, r.Code);
        Assert.Contains(dir["run"], r.Err);
        Assert.DoesNotContain("Exception", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
    }

    [Fact]
    public void A_lock_under_a_file_fails_with_the_path()
    {
        // A parent that is a regular file cannot hold a folder for anyone, root included (ENOTDIR), so this runs in CI.
        using var dir = new TestUtil.TempDir();
        File.WriteAllText(dir["file"], "x");
        var target = Path.Combine(dir["file"], "run");
        var ex = Assert.Throws<CompactException>(() => OutputLock.ForFolder(target));
        Assert.Contains(target, ex.Message);
        Assert.DoesNotContain("Exception", ex.Message);
    }
}
