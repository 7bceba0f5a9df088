using System.Diagnostics;
using System.Text.Json.Nodes;
using Compact.Cli;
using Compact.IO;
using Compact.Tests.Training;
using Compact.Training;
using Compact.Util;

namespace Compact.Tests.Robustness;

/// <summary>A real second process: while a `compact sft` child writes a run folder, another writer is refused with the
/// child's PID; after kill -9 at a seeded point the folder is taken over, and the resumed run ends with the
/// metrics and adapter of an uninterrupted one.</summary>
public class KillAndResumeTests
{
    static string[] Sft(string model, string data, string outDir) =>
        ["sft", "--model", model, "--data", data, "--out", outDir, "--max-steps", "40", "--lr", "5e-3", "--batch-size", "2",
         "--lora-r", "2", "--max-seq-len", "64", "--seed", "5", "--save-every", "4"];

    static int[] Steps(string run) =>
        File.ReadAllLines(Path.Combine(run, Engine.MetricsFile)).Select(l => JsonNode.Parse(l)!["step"]!.GetValue<int>()).ToArray();

    static Dictionary<string, float[]> Adapter(string dir)
    {
        using var f = SafeTensorsFile.Open(Path.Combine(dir, "adapter_model.safetensors"));
        return f.Entries.ToDictionary(e => e.Name, e => { using var t = f.ReadTensor(e); return t.data<float>().ToArray(); });
    }

    [Fact]
    public async Task A_second_writer_is_refused_while_a_child_runs_and_a_kill_9_resumes_exactly()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var data = SftTests.Data(dir, 16);
        Assert.Equal(0, CompactCli.Run(Sft(model, data, dir["full"]), TextWriter.Null, TextWriter.Null));

        int killAfter = new Random(2026).Next(6, 14);                      // metrics lines seen before kill -9 (seeded)
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "compact.dll"));
        foreach (var arg in Sft(model, data, dir["run"])) psi.ArgumentList.Add(arg);
        using var child = Process.Start(psi)!;
        _ = child.StandardOutput.ReadToEndAsync();
        var childErr = child.StandardError.ReadToEndAsync();
        var metrics = Path.Combine(dir["run"], Engine.MetricsFile);
        var sw = Stopwatch.StartNew();
        bool killed = false;
        try
        {
            while (!child.HasExited && sw.Elapsed < TimeSpan.FromSeconds(120))
            {
                int lines = 0;
                try { if (File.Exists(metrics)) lines = File.ReadAllLines(metrics).Length; } catch (IOException) { }
                if (lines >= killAfter)
                {
                    // The child holds the folder: a second writer (this process) is refused, naming the child.
                    var err = new StringWriter();
                    Assert.Equal(1, CompactCli.Run([.. Sft(model, data, dir["run"]), "--resume"], TextWriter.Null, err));
                    Assert.Contains($"PID {child.Id}", err.ToString());
                    child.Kill(entireProcessTree: true);                  // SIGKILL: no handler runs, the lock file stays
                    child.WaitForExit();
                    killed = true;
                    break;
                }
                await Task.Delay(5);
            }
        }
        finally { if (!child.HasExited) child.Kill(true); }
        Assert.True(killed, $"the child ended before the kill point: {await childErr}");
        Assert.True(File.Exists(Path.Combine(dir["run"], OutputLock.FolderLockName)));

        var o = new StringWriter();
        var e = new StringWriter();
        int code = CompactCli.Run([.. Sft(model, data, dir["run"]), "--resume"], o, e);
        Assert.True(code == 0, e.ToString() + o);
        Assert.Equal(Enumerable.Range(1, 40).ToArray(), Steps(dir["run"]));
        var a = Adapter(dir["full/adapter"]);
        var b = Adapter(dir["run/adapter"]);
        foreach (var k in a.Keys)
            for (int i = 0; i < a[k].Length; i++) Assert.True(Math.Abs(a[k][i] - b[k][i]) < 1e-6, $"{k}[{i}]: {a[k][i]} vs {b[k][i]}");
    }
}
