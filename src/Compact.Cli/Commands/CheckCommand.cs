using System.CommandLine;
using Compact.Answers;

namespace Compact.Cli.Commands;

public static class CheckCommand
{
    static readonly Option<string> Kind = new("--kind") { Description = "numeric, math, choice or yesno.", Required = true };
    static readonly Option<string> Gold = new("--gold") { Description = "The gold answer (for choice: a letter or the option text).", Required = true };
    static readonly Option<string> Answer = new("--answer") { Description = "The answer text or whole solution to check.", Required = true };
    static readonly Option<string[]> Choices = new("--choices") { Description = "Options of a multiple-choice question, in order (A, B, …).", AllowMultipleArgumentsPerToken = true };

    public static Command Create()
    {
        var c = new Command("check", "Check an answer against a gold answer; exit code 0 when right, 1 when not.") { Kind, Gold, Answer, Choices, Shared.Json };
        c.SetAction(p => Run(ParseKind(p.GetValue(Kind)!), p.GetValue(Gold)!, p.GetValue(Answer)!, p.GetValue(Choices), p.GetValue(Shared.Json), p.InvocationConfiguration.Output));
        return c;
    }

    public static AnswerKind ParseKind(string s) => s.ToLowerInvariant() switch
    {
        "numeric" => AnswerKind.Numeric,
        "math" => AnswerKind.Math,
        "choice" => AnswerKind.Choice,
        "yesno" => AnswerKind.YesNo,
        _ => throw new CompactException($"unknown --kind '{s}'; use numeric, math, choice or yesno."),
    };

    public static int Run(AnswerKind kind, string gold, string answer, string[]? choices, bool json, TextWriter output)
    {
        var r = AnswerCheck.Check(kind, gold, answer, choices is { Length: > 0 } ? choices : null);
        if (json)
            output.WriteLine(new System.Text.Json.Nodes.JsonObject
            {
                ["correct"] = r.Correct, ["extracted"] = r.Extracted, ["normalized"] = r.Normalized, ["reason"] = r.Reason,
            }.ToJsonString(Compact.Util.Jsonl.Options));
        else output.WriteLine($"{(r.Correct ? "correct" : "wrong")}: extracted {r.Extracted ?? "(nothing)"}, {r.Reason}");
        return r.Correct ? 0 : 1;
    }
}
