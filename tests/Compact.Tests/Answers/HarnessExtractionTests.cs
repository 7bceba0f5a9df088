using Compact.Answers;

namespace Compact.Tests.Answers;

/// <summary>lm-evaluation-harness's GSM8K filters. Expected values worked by hand from its regexes:
/// strict-match <c>The answer is (\-?[0-9\.\,]+).</c> (first match; the final "." matches any one character),
/// flexible-extract <c>(-?[$0-9.,]{2,})|(-?[0-9]+)</c> (last match); then "," "$" and a final "." removed.</summary>
public class HarnessExtractionTests
{
    [Theory]
    [InlineData("So 3 + 4 = 7. The answer is 18.", "18", true)]
    [InlineData("The answer is 1,234.", "1234", true)]            // group "1,234" → "," removed
    [InlineData("The answer is $18.", "18", false)]               // "$" is not in the group: no match
    [InlineData("The answer is: 18.", "18", false)]               // the colon breaks the pattern
    [InlineData("The answer is 18", "18", false)]                 // the wildcard needs a character after: group "1"
    [InlineData("The answer is -5 apples", "-5", true)]
    [InlineData("The answer is 18.0 now", "18", false)]           // "18.0" ≠ "18": string match, as in the harness
    [InlineData("The answer is 7. Later: The answer is 9.", "9", false)]   // the first match is taken
    public void Strict_match(string completion, string gold, bool correct) =>
        Assert.Equal(correct, AnswerCheck.Check(AnswerKind.Numeric, gold, completion, extraction: Extraction.StrictMatch).Correct);

    [Theory]
    [InlineData("She pays $18.", "$18.", "18")]                    // one match "$18." → "$" and final "." removed
    [InlineData("3 boxes of 4 make 12", "12", "12")]               // "3", "4", "12": the last
    [InlineData("It costs 1,000 dollars, i.e. 5 each", "5", "5")]
    [InlineData("-7 degrees", "-7", "-7")]
    public void Flexible_extract(string completion, string extracted, string normalized)
    {
        var r = AnswerCheck.Check(AnswerKind.Numeric, normalized, completion, extraction: Extraction.FlexibleExtract);
        Assert.Equal(extracted, r.Extracted);
        Assert.Equal(normalized, r.Normalized);
        Assert.True(r.Correct);
    }

    [Fact]
    public void No_number_is_invalid_and_wrong()
    {
        var r = AnswerCheck.Check(AnswerKind.Numeric, "3", "no idea", extraction: Extraction.FlexibleExtract);
        Assert.Null(r.Extracted);
        Assert.False(r.Correct);
        Assert.Equal("flexible-extract: no match", r.Reason);
    }

    [Fact]
    public void Default_reads_what_strict_match_refuses()
    {
        // The project's checker reads "The answer is: 18" and compares numbers exactly; the harness's strict-match does not.
        Assert.True(AnswerCheck.Check(AnswerKind.Numeric, "18", "The answer is: 18.0").Correct);
        Assert.False(AnswerCheck.Check(AnswerKind.Numeric, "18", "The answer is: 18.0", extraction: Extraction.StrictMatch).Correct);
    }

    [Fact]
    public void Extraction_names_parse_and_unknown_ones_are_refused()
    {
        Assert.Equal(Extraction.StrictMatch, HarnessExtraction.Parse("strict-match"));
        Assert.Equal(Extraction.FlexibleExtract, HarnessExtraction.Parse("Flexible-Extract"));
        Assert.Equal(Extraction.Default, HarnessExtraction.Parse("default"));
        var e = Assert.Throws<CompactException>(() => HarnessExtraction.Parse("loose"));
        Assert.Equal("unknown --extraction 'loose'; use default, strict-match or flexible-extract.", e.Message);
    }
}
