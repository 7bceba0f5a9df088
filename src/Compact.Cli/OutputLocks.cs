using System.CommandLine;
using System.CommandLine.Help;
using Compact.Util;

namespace Compact.Cli;

/// <summary>Which verbs own an output (their --out) and whether it is a folder or a file; the CLI holds the
/// lock for the whole command so that a second writer on the same output is refused.</summary>
public static class OutputLocks
{
    /// <summary>Verbs whose --out is a file (locked through FILE.lock); every other verb with --out writes a folder.</summary>
    static readonly HashSet<string> FileOutputs = ["teach", "score", "import"];

    /// <summary>Verbs with an --out that is read, not written.</summary>
    static readonly HashSet<string> ReadOnly = [];

    /// <summary>The lock for the parsed command's --out, or null when it writes no output.</summary>
    public static OutputLock? For(ParseResult parse)
    {
        // Errors and --help run no command, so nothing is written (and a required --out may be missing).
        if (parse.Errors.Count > 0 || parse.Action is HelpAction) return null;
        var cmd = parse.CommandResult.Command;
        if (ReadOnly.Contains(cmd.Name)) return null;
        var opt = cmd.Options.FirstOrDefault(o => o.Name == "--out");
        if (opt is null) return null;
        var r = parse.GetResult(opt);
        var value = r?.GetValueOrDefault<object?>() ?? (opt.HasDefaultValue ? opt.GetDefaultValue() : null);
        if (value is not string path || path.Length == 0) return null;
        var what = $"compact {cmd.Name}";
        return FileOutputs.Contains(cmd.Name) ? OutputLock.ForFile(path, "--out", what) : OutputLock.ForFolder(path, "--out", what);
    }
}
