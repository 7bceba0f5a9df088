using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace Compact.Cli;

/// <summary>The `compact` command line: verbs, shared options, `--config FILE` merging, and error handling
/// (one sentence on stderr and a non-zero exit; the stack trace only with --verbose).</summary>
public static class CompactCli
{
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Print stack traces on errors.", Recursive = true };

    public static RootCommand Build()
    {
        var root = new RootCommand("Compact: compatibility-aware multi-teacher chain-of-thought distillation (COMPACT) for Hugging Face LLMs.");
        root.Add(Verbose);
        foreach (var c in Cli.Commands.Verbs.All()) root.Add(c);
        OptionRanges.Apply(root);
        return root;
    }

    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        var root = Build();
        bool verbose = args.Contains("--verbose");
        try
        {
            var parse = root.Parse(args);
            var merged = ConfigFiles.Merge(parse, args);
            if (merged is not null) parse = root.Parse(merged);
            using var outputLock = OutputLocks.For(parse);
            OptionRanges.Prepare(parse);
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (Unwrap(e) is CompactException ce)
        {
            error.WriteLine($"error: {ce.Message}");
            if (verbose) error.WriteLine(ce);
            return 1;
        }
        catch (Exception e) when (Unwrap(e) is IOException or UnauthorizedAccessException)
        {
            // A failure of the file system (disk full, read-only, a folder where a file should be): the system's own
            // sentence names the path; no exception name.
            var inner = Unwrap(e);
            error.WriteLine($"error: {inner.Message.Split('\n')[0].Trim().TrimEnd('.')}; check the path, its permissions and the free disk space, then run again.");
            if (verbose) error.WriteLine(inner);
            return 1;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("interrupted.");
            return 130;
        }
        catch (Exception e)
        {
            var inner = Unwrap(e);
            error.WriteLine($"error: {inner.GetType().Name}: {inner.Message.Split('\n')[0]}");
            error.WriteLine(verbose ? inner.ToString() : "(run again with --verbose for details)");
            return 2;
        }
    }

    static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerException: { } i } || e is System.Reflection.TargetInvocationException { InnerException: { } } )
            e = e.InnerException!;
        return e;
    }
}

/// <summary>`--config FILE` (JSON or YAML): its keys are the command's flag names (max_steps or max-steps);
/// flags given on the command line win; an unknown key is an error.</summary>
public static class ConfigFiles
{
    public static readonly Option<string?> Config = new("--config") { Description = "JSON or YAML file of settings (keys = flag names); command-line flags override it." };

    /// <summary>Returns args with the config's settings appended for options not given explicitly, or null when
    /// the command has no --config.</summary>
    public static string[]? Merge(ParseResult parse, string[] args)
    {
        var cmd = parse.CommandResult.Command;
        if (!cmd.Options.Contains(Config)) return null;
        var path = parse.GetValue(Config);
        if (path is null) return null;
        if (!File.Exists(path)) throw new CompactException($"--config {path}: file not found.");
        var values = Load(path);
        var byName = cmd.Options.Where(o => o != Config).ToDictionary(o => o.Name.TrimStart('-'), o => o);
        var extra = new List<string>();
        foreach (var (key, value) in values)
        {
            var norm = key.Replace('_', '-');
            if (!byName.TryGetValue(norm, out var opt))
                throw new CompactException($"{path}: unknown setting '{key}' for `compact {cmd.Name}`; valid keys: {string.Join(", ", byName.Keys.Order())}.");
            var r = parse.GetResult(opt);
            if (r is { Implicit: false } && r.IdentifierTokenCount > 0) continue;   // the command line wins
            if (opt.ValueType == typeof(bool))
            {
                extra.Add($"--{norm}");
                extra.Add(value.Count == 1 ? value[0].ToLowerInvariant() : "true");
                continue;
            }
            foreach (var v in value) { extra.Add($"--{norm}"); extra.Add(v); }
        }
        return [.. args, .. extra];
    }

    public static List<(string Key, List<string> Values)> Load(string path)
    {
        var text = File.ReadAllText(path);
        var list = new List<(string, List<string>)>();
        bool json = path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || text.TrimStart().StartsWith('{');
        if (json)
        {
            JsonObject o;
            try
            {
                // JsonObject keeps the last of duplicate keys only when asked for them; a duplicate is an error here.
                using (var doc = JsonDocument.Parse(text))
                    if (doc.RootElement.ValueKind == JsonValueKind.Object)
                    {
                        var seen = new HashSet<string>(StringComparer.Ordinal);
                        foreach (var p in doc.RootElement.EnumerateObject())
                            if (!seen.Add(p.Name)) throw new CompactException($"{path}: setting '{p.Name}' is given twice; keep one.");
                    }
                o = JsonNode.Parse(text) as JsonObject ?? throw new JsonException("not an object");
            }
            catch (JsonException e) { throw new CompactException($"{path}: not valid JSON ({e.Message.Split('.')[0]})."); }
            foreach (var (k, v) in o)
                list.Add((k, v switch
                {
                    JsonArray a => a.Select(Scalar).ToList(),
                    null => [],
                    _ => [Scalar(v)],
                }));
            return list;
        }
        var ys = new YamlStream();
        try { using var r = new StringReader(text); ys.Load(r); }
        catch (YamlDotNet.Core.YamlException e) { throw new CompactException($"{path}: not valid YAML ({e.Message})."); }
        catch (ArgumentException e) { throw new CompactException($"{path}: not valid YAML ({e.Message.Split('\n')[0]}; is a setting given twice?)."); }
        if (ys.Documents.Count == 0) return list;
        if (ys.Documents[0].RootNode is not YamlMappingNode map) throw new CompactException($"{path}: must be a mapping of setting: value.");
        foreach (var (k, v) in map.Children)
        {
            if (k is not YamlScalarNode { Value: { } key })
                throw new CompactException($"{path}: line {k.Start.Line}: a setting's name must be a plain word such as max_steps, not a list or mapping.");
            if (list.Any(x => x.Item1 == key))
                throw new CompactException($"{path}: setting '{key}' is given twice; keep one.");
            list.Add((key, v switch
            {
                YamlSequenceNode seq => seq.Children.Select(c => c is YamlScalarNode sc ? sc.Value ?? ""
                    : throw new CompactException($"{path}: line {c.Start.Line}: the list of '{key}' must hold plain values.")).ToList(),
                YamlScalarNode s => [s.Value ?? ""],
                _ => throw new CompactException($"{path}: value of '{key}' must be a scalar or a list."),
            }));
        }
        return list;
    }

    static string Scalar(JsonNode? n) => n switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v when v.TryGetValue<bool>(out var b) => b ? "true" : "false",
        null => "",
        _ => n.ToJsonString(),
    };

    /// <summary>Every option of the command with its resolved value, for run_config.json.</summary>
    public static JsonObject Resolved(ParseResult parse)
    {
        var o = new JsonObject();
        foreach (var opt in parse.CommandResult.Command.Options)
        {
            if (opt == Config || opt.Name is "--help" or "-h" or "-?") continue;
            var r = parse.GetResult(opt);
            object? value = r?.GetValueOrDefault<object?>() ?? (opt.HasDefaultValue ? opt.GetDefaultValue() : null);
            o[opt.Name.TrimStart('-').Replace('-', '_')] = value switch
            {
                null => null,
                string s => s,
                bool b => b,
                int i => i,
                long l => l,
                double d => d,
                IEnumerable<string> xs => new JsonArray(xs.Select(x => (JsonNode)x).ToArray()),
                _ => value.ToString(),
            };
        }
        return o;
    }
}
