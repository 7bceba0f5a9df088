using System.Text.RegularExpressions;

namespace Compact.Answers;

/// <summary>How the final answer is read from a completion. Default: the checker's own rules (see each checker).
/// StrictMatch and FlexibleExtract are lm-evaluation-harness's two GSM8K filters (its gsm8k-cot tasks), so that
/// numeric accuracies can be compared with published ones; they apply to numeric items only.</summary>
public enum Extraction { Default, StrictMatch, FlexibleExtract }

/// <summary>lm-evaluation-harness's GSM8K answer filters and exact-match scoring, re-implemented from its task
/// configuration: strict-match takes the first match of <c>The answer is (\-?[0-9\.\,]+).</c> (the final "." is a
/// regex wildcard: it needs one more character after the number, as in the harness); flexible-extract takes the
/// last match of <c>(-?[$0-9.,]{2,})|(-?[0-9]+)</c>. No match gives "[invalid]". Prediction and gold then lose
/// ",", "$", everything up to "#### " and a final "." (the harness's regexes_to_ignore) and are compared as
/// strings, ignoring case: "18.0" is not "18", as in the harness.</summary>
public static partial class HarnessExtraction
{
    public const string Invalid = "[invalid]";

    public static Extraction Parse(string s) => s.Trim().ToLowerInvariant() switch
    {
        "default" => Extraction.Default,
        "strict-match" or "strict" => Extraction.StrictMatch,
        "flexible-extract" or "flexible" => Extraction.FlexibleExtract,
        _ => throw new CompactException($"unknown --extraction '{s}'; use default, strict-match or flexible-extract."),
    };

    public static string Name(Extraction e) => e switch
    {
        Extraction.StrictMatch => "strict-match",
        Extraction.FlexibleExtract => "flexible-extract",
        _ => "default",
    };

    /// <summary>The filtered answer as the harness's filter leaves it, before the ignore-regexes.</summary>
    public static string Extract(Extraction mode, string completion)
    {
        switch (mode)
        {
            case Extraction.StrictMatch:
                var m = Strict().Match(completion);
                return m.Success ? m.Groups[1].Value : Invalid;
            case Extraction.FlexibleExtract:
                var all = Flexible().Matches(completion);
                if (all.Count == 0) return Invalid;
                var last = all[^1];
                return last.Groups[1].Success ? last.Groups[1].Value : last.Groups[2].Value;
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, "the default extraction is the checker's own");
        }
    }

    /// <summary>The harness's regexes_to_ignore: ",", "\$", "(?s).*#### ", "\.$", in that order.</summary>
    public static string Clean(string s)
    {
        s = s.Replace(",", "", StringComparison.Ordinal).Replace("$", "", StringComparison.Ordinal);
        s = UpToHashes().Replace(s, "");
        return FinalDot().Replace(s, "");
    }

    public static AnswerResult Check(Extraction mode, string gold, string completion)
    {
        var found = Extract(mode, completion);
        var (p, g) = (Clean(found), Clean(gold.Trim()));
        bool correct = found != Invalid && string.Equals(p, g, StringComparison.OrdinalIgnoreCase);
        return new AnswerResult(found == Invalid ? null : found, found == Invalid ? null : p, correct,
            $"{Name(mode)}: {(found == Invalid ? "no match" : $"\"{p}\" {(correct ? "==" : "!=")} gold \"{g}\"")}");
    }

    [GeneratedRegex(@"The answer is (\-?[0-9\.\,]+).")]
    private static partial Regex Strict();

    [GeneratedRegex(@"(-?[$0-9.,]{2,})|(-?[0-9]+)")]
    private static partial Regex Flexible();

    [GeneratedRegex(@"(?s).*#### ")]
    private static partial Regex UpToHashes();

    [GeneratedRegex(@"\.$")]
    private static partial Regex FinalDot();
}
