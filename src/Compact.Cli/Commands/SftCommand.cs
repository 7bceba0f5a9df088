using System.CommandLine;
using Compact.Models;
using Compact.Training;
using Compact.Util;

namespace Compact.Cli.Commands;

public static class SftCommand
{
    static readonly Option<string> Model = Shared.Model();
    static readonly Option<string> Data = new("--data") { Description = "JSONL training data: {\"question\": ..., \"target\": ...} per line.", Required = true };
    static readonly Option<string> Out = Shared.Out("Run folder: config, metrics, TensorBoard events, loss.png, checkpoints, adapter/ or model/.");
    static readonly TrainOptions T = new(TrainDefaults.Sft);

    public static Command Create()
    {
        var c = new Command("sft", "Supervised fine-tuning on chain-of-thought targets (LoRA by default).") { Model, Data, Out };
        foreach (var o in T.All) c.Add(o);
        c.SetAction(p => Run(p, p.InvocationConfiguration.Output));
        return c;
    }

    public static int Run(System.CommandLine.ParseResult p, TextWriter output)
    {
        var outDir = p.GetValue(Out)!;
        var cfg = ConfigFiles.Resolved(p);
        TrainOptions.PrintConfig(output, "sft", cfg);
        Devices.ConfigureThreads();
        var so = T.Student(p, p.GetValue(Model)!);
        using var student = Student.Load(so);
        var (examples, report) = SftData.Load(p.GetValue(Data)!, student.Chat, p.GetValue(T.MaxSeqLen),
            TrainOptions.ParseTruncation(p.GetValue(T.Truncation)!), p.GetValue(T.SkipBadLines), p.GetValue(T.System_));
        output.WriteLine(report.Summary);
        foreach (var problem in report.Problems.Take(10)) output.WriteLine($"  skipped {problem}");
        var recipe = new SftRecipe(student, examples);
        var eo = T.Engine(p, outDir, "sft", p.GetValue(T.BatchSize));
        using var cts = TrainOptions.CancelOnCtrlC();
        var summary = Engine.Run(recipe, eo, cfg, output, new ProgressHost(output), cts.Token);
        return TrainOptions.Finish(output, "sft", summary, outDir, () => student.ExportFinal(outDir), report.Summary);
    }
}
