namespace Compact.Tests.Commands;

/// <summary>`compact VERB --help` prints the verb's help for every verb, including those with a required --out (their
/// output lock used to read the missing --out and fail with an exception name).</summary>
public class HelpTests
{
    /// <summary>Every verb the command line has (so a new verb is checked too).</summary>
    public static TheoryData<string> Verbs() => new(Compact.Cli.CompactCli.Build().Subcommands.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Verbs))]
    public void Help_of_every_verb_prints_its_usage(string verb)
    {
        var (code, stdout, stderr) = TestUtil.RunCli(verb, "--help");
        Assert.Equal(0, code);
        // In-process the program's name is the test host's, so only the verb after it is checked.
        Assert.Matches($@"Usage:\s*\S+ {verb}\b", stdout);
        Assert.DoesNotContain("Exception", stdout + stderr);
    }

    [Fact]
    public void A_missing_required_out_is_a_parse_error_not_an_exception()
    {
        var (code, _, stderr) = TestUtil.RunCli("distill", "--model", "m", "--data", "d.jsonl");
        Assert.NotEqual(0, code);
        Assert.Contains("--out", stderr);
        Assert.DoesNotContain("Exception", stderr);
    }
}
