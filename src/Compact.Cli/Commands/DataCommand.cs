using System.Globalization;
using System.CommandLine;
using Compact.Teach;
using Compact.Util;

namespace Compact.Cli.Commands;

public static class DataCommand
{
    static readonly Argument<string> File_ = new("FILE") { Description = "The file to read." };
    static readonly Option<string?> Model = new("--model") { Description = "Model folder whose tokenizer measures lengths in tokens (otherwise characters)." };
    static readonly Option<string> Out = Shared.Out("Dataset to write (JSONL).");
    static readonly Option<string> Suffix = new("--answer-suffix") { Description = "With --model: the answer suffix distill will use; {answer} is the gold answer.", DefaultValueFactory = _ => Distill.AnswerSuffix.Default };
    static readonly Option<bool> SkipBadItems = new("--skip-bad-lines") { Description = "import: skip (and count) malformed items of the authors' format instead of stopping." };
    static readonly Option<int> MinRationales = new("--min-rationales") { Description = "Report questions with fewer correct rationales than this (COMPACT needs 2; single-teacher training 1).", DefaultValueFactory = _ => 2 };
    static readonly Option<string> Format = new("--format") { Description = "auto, authors (COMPACT's [{Question, CoT, Answer}]) or committee (Learn-from-Committee SVAMP file).", DefaultValueFactory = _ => "auto" };

    public static Command Create()
    {
        var check = new Command("check", "Validate a multi-teacher dataset; print per-teacher counts and lengths, and questions with fewer than --min-rationales rationales; with --model, refuse questions whose branches' answer spans are empty or differ in that model's chat format.") { File_, Model, Suffix, MinRationales };
        check.SetAction(p => Check(p.GetValue(File_)!, p.GetValue(Model), p.InvocationConfiguration.Output, p.GetValue(Suffix)!, p.GetValue(MinRationales)));
        var import = new Command("import", "Convert the authors' JSON format or the committee rationale file into Compact's dataset format.") { File_, Out, Format, SkipBadItems };
        import.SetAction(p => Import(p.GetValue(File_)!, p.GetValue(Out)!, p.GetValue(Format)!, p.InvocationConfiguration.Output, p.GetValue(SkipBadItems)));
        return new Command("data", "Inspect and convert multi-teacher datasets.") { check, import };
    }

    public static int Check(string path, string? model, TextWriter output, string suffix = Distill.AnswerSuffix.Default, int minRationales = 2)
    {
        if (minRationales < 1) throw new CompactException($"--min-rationales must be 1 or more (got {minRationales}).");
        var (qs, problems) = Distill.MultiTeacherData.Load(path, skipBad: true);
        foreach (var p in problems) output.WriteLine($"problem: {p}");
        Func<string, int> len = s => s.Length;
        string unit = "chars";
        int refused = 0;
        if (model is not null)
        {
            var tok = Training.Student.LoadTokenizer(model);
            len = s => tok.Encode(s).Count;
            unit = "tokens";
            // Every branch must end with the same, non-empty answer span in this model's chat format (distill and
            // score skip the questions that do not).
            Tokenization.ChatFormat chat;
            try { chat = Tokenization.ChatFormat.For(tok); }
            catch (InvalidDataException e) { throw new CompactException($"{model}: {e.Message}", e); }
            var sfx = new Distill.AnswerSuffix(suffix);
            foreach (var q in qs)
                if (Distill.BranchBuilder.Build(chat, q, sfx, int.MaxValue, Training.TruncationMode.Drop).Problem is { } why)
                {
                    if (refused++ < 20) output.WriteLine($"refused: {path}:{q.Line}: {why}");
                }
        }
        var rows = Distill.MultiTeacherData.Teachers(qs).Select(t =>
        {
            var lens = qs.SelectMany(q => q.Rationales.Where(r => r.Teacher == t)).Select(r => len(r.Text)).Order().ToList();
            return (IReadOnlyList<string>)[t, qs.Count(q => q.Rationales.Any(r => r.Teacher == t)).ToString(CultureInfo.InvariantCulture), lens.Count.ToString(CultureInfo.InvariantCulture),
                lens.Average().ToString("0", CultureInfo.InvariantCulture), lens[lens.Count / 2].ToString(CultureInfo.InvariantCulture), lens[^1].ToString(CultureInfo.InvariantCulture)];
        }).ToList();
        Tables.Write(output, $"{path}: {qs.Count} questions", ["teacher", "questions", "rationales", $"mean {unit}", $"median {unit}", $"max {unit}"], rows);
        var few = Teach.Rationales.Below(qs, minRationales);
        output.WriteLine($"{few.Count} of {qs.Count} questions have fewer than {minRationales} rationale{(minRationales == 1 ? "" : "s")}"
            + $"{(few.Count > 0 ? ": " + string.Join(", ", few.Take(20).Select(q => $"{q.Id} ({q.Rationales.Count})")) + (few.Count > 20 ? ", …" : "") : "")}"
            + $"; {qs.Count - few.Count} questions remain with --min-rationales {minRationales}.");
        if (refused > 0) output.WriteLine($"{refused} questions refused: their branches' answer spans are empty or differ; distill and score would skip them (fix the answers or --answer-suffix).");
        return problems.Count > 0 || refused > 0 ? 1 : 0;
    }

    public static int Import(string path, string outPath, string format, TextWriter output, bool skipBad = false)
    {
        var (qs, problems) = DatasetImport.Load(path, format, skipBad);
        foreach (var pr in problems.Take(10)) output.WriteLine($"  skipped {pr}");
        Distill.MultiTeacherData.Write(outPath, qs);
        output.WriteLine($"Imported {qs.Count} questions with {qs.Sum(q => q.Rationales.Count)} rationales from {string.Join(", ", Distill.MultiTeacherData.Teachers(qs))} → {outPath}"
            + (problems.Count > 0 ? $" ({problems.Count} bad items skipped)" : ""));
        return 0;
    }
}
