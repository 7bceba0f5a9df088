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
