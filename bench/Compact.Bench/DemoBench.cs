using Compact.Demo;
using Compact.Util;

namespace Compact.Bench;

/// <summary>demo: runs `compact demo` (default comparison; --all true: every method; --quick true: the miniature) into
/// a scratch folder (or --out DIR, where an earlier run resumes) and keeps its results JSON (accuracy per method and
/// split, learning curves, paired differences, score-validity AUCs, verdict, time) as bench/results/demo.json
/// (demo-all.json, demo-quick.json), the reference for later changes. Options: --out DIR --quick false --all false --seed 0.</summary>
public static class DemoBench
{
    public static int Run(string[] argv)
    {
        var a = new BenchArgs(argv);
        bool quick = a.Get("quick", "false") == "true";
        bool all = a.Get("all", "false") == "true";
        var outDir = a.Get("out", Path.Combine(Path.GetTempPath(), "compact-demo-bench" + (all ? "-all" : "")));
        long seed = a.Get("seed", 0);
        a.RequireAllUsed();
        Compact.Models.Devices.ConfigureThreads();                      // an entry point: the process's thread settings are its own
        var results = DemoRunner.Run(new DemoOptions { Out = outDir, Quick = quick, All = all, Seed = seed }, Console.Out, new ProgressHost(Console.Out));
        var name = "demo" + (all ? "-all" : "") + (quick ? "-quick" : "");
        Console.WriteLine($"  → {BenchUtil.WriteResult(name, results.ToJson())}");
        return 0;
    }
}
