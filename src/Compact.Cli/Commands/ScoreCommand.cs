using System.CommandLine;
using Compact.Distill;
using Compact.Models;
using Compact.Training;
using Compact.Util;

namespace Compact.Cli.Commands;

/// <summary>`compact score`: every question's compatibility scores and teacher weights for a student, without training.</summary>
public static class ScoreCommand
{
    static readonly Option<string> Model = Shared.Model();
    static readonly Option<string> Data = new("--data") { Description = "Multi-teacher dataset.", Required = true };
    static readonly Option<string> Out = new("--out") { Description = "Scores JSONL to write (one line per question).", Required = true };
    static readonly Option<int> MaxSeqLen = new("--max-seq-len") { Description = "Longest branch in tokens.", DefaultValueFactory = _ => 2560 };
    static readonly Option<string?> System_ = new("--system") { Description = "System message for every example." };
    static readonly CompactFlags C = new();

    public static Command Create()
    {
        var c = new Command("score", "Compatibility scores and teacher weights of a student for every question, without training, with a per-teacher summary.")
        {
            Model, Shared.Adapter, Data, Out, MaxSeqLen, System_, Shared.Device, Shared.DType,
        };
        foreach (var o in C.Scoring) c.Add(o);
        c.SetAction(p => Run(p, p.InvocationConfiguration.Output));
        return c;
    }

    public static int Run(ParseResult p, TextWriter output)
    {
        Devices.ConfigureThreads();
        using var m = Generation.LoadedModel.Load(p.GetValue(Model)!, p.GetValue(Shared.Adapter), p.GetValue(Shared.Device)!, p.GetValue(Shared.DType)!);
        var options = C.Config(p).Options();
        var questions = DistillRun.Prepare(p.GetValue(Data)!, m.Chat, new AnswerSuffix(p.GetValue(C.Suffix)!), p.GetValue(MaxSeqLen),
            TruncationMode.TruncateStart, false, p.GetValue(System_), null, output, options.ReferenceCode);
        var objective = new CompactObjective(m.Model, m.Tokenizer, options);
        var summary = Scoring.Run(objective, questions, p.GetValue(Out)!, new ProgressHost(output));
        Tables.Write(output, $"Compatibility of {m.Name} with each teacher", Scoring.Headers, Scoring.Rows(summary));
        output.WriteLine($"Scores for {questions.Count} questions → {p.GetValue(Out)}");
        output.WriteLine(options.ScoreMode == Distill.ScoreMode.Train
            ? "Score mode: train (model in training mode, LoRA dropout on as in a training step; --score-mode eval for dropout-free scores)."
            : "Score mode: eval (dropout-free no-grad pass, as training with --score-mode eval computes them).");
        return 0;
    }
}
