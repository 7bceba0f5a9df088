using System.Globalization;
using System.CommandLine;
using Compact.Teach;
using Compact.Util;

namespace Compact.Cli.Commands;

public static class TeachCommand
{
    static readonly Option<string> Questions = new("--questions") { Description = "Questions with gold answers: JSONL {id, question, answer[, kind, choices]} or a benchmark file.", Required = true };
    static readonly Option<string> Format = new("--format") { Description = "auto, jsonl, gsm8k, svamp, math500, csqa, strategyqa or gpqa.", DefaultValueFactory = _ => "auto" };
    static readonly Option<string?> Kind = new("--kind") { Description = "Answer kind for checking (numeric, math, choice, yesno); default: from the format." };
    static readonly Option<string> Teachers = new("--teachers") { Description = "Teachers file (YAML or JSON): name, base_url, model, api_key_env, prompt, system, temperature (null: not sent), max_tokens, max_tokens_field, stop, extra_body, rationale (reasoning+content, content or reasoning), samples, concurrency, timeout_s, max_retries.", Required = true };
    static readonly Option<string> Out = Shared.Out("Multi-teacher dataset to write (JSONL); every response goes to OUT.raw.jsonl.");
    static readonly Option<string?> Raw = new("--raw") { Description = "Side file for every raw response and its verdict (default OUT.raw.jsonl)." };
    static readonly Option<int?> Limit = new("--limit") { Description = "Only the first N questions." };
    static readonly Option<bool> Overwrite = new("--overwrite") { Description = "Replace an existing --out dataset that the raw side file does not account for (otherwise refused)." };
    static readonly Option<bool> RetryFailed = new("--retry-failed") { Description = "Ask again for items whose verdict is \"failed\" (errors after all retries); a rerun without it asks only for items never answered." };
    static readonly Option<int> RetryBudget = new("--retry-budget") { Description = "Retries allowed in the whole run, all teachers together (each request also has its teacher's max_retries).", DefaultValueFactory = _ => 1000 };

    public static Command Create()
    {
        var c = new Command("teach", "Collect rationales from teachers behind OpenAI-compatible servers; keep the correct ones (resumable).")
        {
            Questions, Format, Kind, Teachers, Out, Raw, Limit, RetryFailed, RetryBudget, Overwrite,
        };
        c.SetAction((p, ct) => Run(p, p.InvocationConfiguration.Output, ct));
        return c;
    }

    public static async Task<int> Run(ParseResult p, TextWriter output, CancellationToken ct)
    {
        var kind = p.GetValue(Kind) is { } k ? CheckCommand.ParseKind(k) : (Answers.AnswerKind?)null;
        var questions = QuestionFiles.Load(p.GetValue(Questions)!, p.GetValue(Format)!, kind);
        if (p.GetValue(Limit) is { } n) questions = questions.Take(n).ToList();
        var teachers = TeachersFile.Load(p.GetValue(Teachers)!);
        output.WriteLine($"teach: {questions.Count} questions × {teachers.Count} teachers ({string.Join(", ", teachers.Select(t => $"{t.Name}×{t.Samples}"))})");
        if (p.GetValue(RetryBudget) < 0) throw new CompactException("--retry-budget must be 0 or more.");
        var s = await TeachRunner.RunAsync(questions, teachers,
            new TeachOptions { Out = p.GetValue(Out)!, Raw = p.GetValue(Raw), RetryFailed = p.GetValue(RetryFailed), RetryBudget = p.GetValue(RetryBudget), Overwrite = p.GetValue(Overwrite) },
            new ProgressHost(output), output, ct);
        Tables.Write(output, "Teachers", ["teacher", "requests", "correct", "wrong", "refused", "truncated", "failed", "tokens"],
            s.Teachers.Select(t => (IReadOnlyList<string>)[t.Teacher, t.Total.ToString(CultureInfo.InvariantCulture), t.Correct.ToString(CultureInfo.InvariantCulture), t.Wrong.ToString(CultureInfo.InvariantCulture), t.Refused.ToString(CultureInfo.InvariantCulture),
                t.Truncated.ToString(CultureInfo.InvariantCulture), t.Failed.ToString(CultureInfo.InvariantCulture), t.Tokens.ToString(CultureInfo.InvariantCulture)]));
        int failed = s.Teachers.Sum(t => t.Failed);
        output.WriteLine($"teach: {s.QuestionsWritten} of {s.Questions} questions have correct rationales → {s.Dataset} (all responses and verdicts: {s.Raw})"
            + (failed > 0 ? $"; {failed} requests failed after their retries: rerun with --retry-failed to ask again." : ""));
        return failed > 0 ? 3 : 0;
    }
}

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
