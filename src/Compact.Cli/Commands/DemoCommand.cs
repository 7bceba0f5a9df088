using System.CommandLine;
using Compact.Demo;
using Compact.Models;
using Compact.Util;

namespace Compact.Cli.Commands;

public static class DemoCommand
{
    static readonly Option<bool> Quick = new("--quick") { Description = "The same pipeline in miniature (at most three minutes on 2 cores)." };
    static readonly Option<bool> All = new("--all") { Description = "Every method: COMPACT, uniform, MoT, MCC-KD, every single teacher and the three ablations, on at least 3 seeds (about an hour on 2 cores)." };
    static readonly Option<string> Out = new("--out") { Description = "Folder for everything the demo makes.", DefaultValueFactory = _ => "compact-demo" };
    static readonly Option<string?> Methods = new("--methods") { Description = "Only these methods, comma-separated (e.g. uniform,single-concise: calibrating the world on the baselines)." };
    static readonly Option<int?> Seeds = new("--seeds") { Description = "Seeds per method instead of the mode's (2 by default, 3 with --all)." };
    static readonly Option<long> Seed = new("--seed") { Description = "Seed of the world, the student and the runs.", DefaultValueFactory = _ => 0 };

    public static Command Create()
    {
        var c = new Command("demo", "Run the whole pipeline on the built-in world: pre-train a tiny student, teach with four scripted teachers with known flaws over HTTP, "
            + "distil with COMPACT and the baselines on the same budget and seeds, evaluate, check the scores against the planted flaws, report. Rerunning resumes.")
            { Quick, All, Out, Seed, Methods, Seeds };
        c.SetAction((p, ct) => Task.FromResult(Run(new DemoOptions { Quick = p.GetValue(Quick), All = p.GetValue(All), Out = p.GetValue(Out)!, Seed = p.GetValue(Seed),
                Only = p.GetValue(Methods) is { } ms ? ms.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null, Seeds = p.GetValue(Seeds) },
            p.InvocationConfiguration.Output, ct)));
        return c;
    }

    public static int Run(DemoOptions o, TextWriter output, CancellationToken ct = default)
    {
        if (o.Seeds is < 1) throw new CompactException($"--seeds must be at least 1 (got {o.Seeds}).");
        _ = o.Methods;                                                  // an unknown --methods name fails before any work
        Devices.ConfigureThreads();
        using var ctrlC = TrainOptions.CancelOnCtrlC();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, ctrlC.Token);
        DemoRunner.Run(o, output, new ProgressHost(output), linked.Token);   // on this thread (DemoRunner.Run says why)
        return 0;
    }
}
