using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Compact.IO;

namespace Compact.Cli;

/// <summary>Range checks for every numeric option, attached once to the whole command tree by flag name, so a value
/// out of range is refused at parse time with the flag, the value and the allowed range (System.CommandLine
/// validators), and `--allow-nonfinite` for the verbs that load weights.</summary>
public static class OptionRanges
{
    public static readonly Option<bool> AllowNonFinite = new("--allow-nonfinite")
    {
        Description = "Load weights even when they hold NaN or infinite values (by default they are refused).",
    };

    /// <summary>Verbs that load model weights for inference or merging.</summary>
    static readonly HashSet<string> WeightLoaders = ["generate", "eval", "merge", "serve", "sft", "distill", "score"];

    /// <summary>(lower bound, lower inclusive, upper bound, upper inclusive) per flag; every floating-point flag must
    /// also be finite.</summary>
    static readonly Dictionary<string, (double Lo, bool LoIn, double Hi, bool HiIn)> Ranges = new()
    {
        ["--lr"] = (0, false, double.PositiveInfinity, false),
        ["--min-lr-ratio"] = (0, true, 1, true),
        ["--warmup-steps"] = (0, true, int.MaxValue, true),
        ["--max-grad-norm"] = (0, true, double.PositiveInfinity, false),
        ["--weight-decay"] = (0, true, double.PositiveInfinity, false),
        ["--keep-last"] = (1, true, int.MaxValue, true),
        ["--save-every"] = (0, true, int.MaxValue, true),
        ["--epochs"] = (1, true, int.MaxValue, true),
        ["--max-steps"] = (1, true, int.MaxValue, true),
        ["--stop-after"] = (1, true, int.MaxValue, true),
        ["--batch-size"] = (1, true, int.MaxValue, true),
        ["--max-tokens-per-batch"] = (1, true, int.MaxValue, true),
        ["--grad-accum"] = (1, true, int.MaxValue, true),
        ["--max-seq-len"] = (2, true, int.MaxValue, true),
        ["--lora-r"] = (1, true, int.MaxValue, true),
        ["--lora-alpha"] = (0, false, double.PositiveInfinity, false),
        ["--lora-dropout"] = (0, true, 1, false),
        ["--max-queue"] = (1, true, int.MaxValue, true),
        ["--max-tokens-limit"] = (1, true, int.MaxValue, true),
        ["--port"] = (0, true, 65535, true),
        ["--max-new-tokens"] = (1, true, int.MaxValue, true),
        ["--temperature"] = (0, true, double.PositiveInfinity, false),
        ["--top-p"] = (0, false, 1, true),
        ["--tau"] = (0, false, double.PositiveInfinity, false),
        ["--lambda"] = (0, true, double.PositiveInfinity, false),
        ["--mcc-weight"] = (0, true, double.PositiveInfinity, false),
        ["--mot-rounds"] = (1, true, int.MaxValue, true),
        ["--exact-stride"] = (1, true, int.MaxValue, true),
        ["--max-shard-bytes"] = (1, true, long.MaxValue, true),
        ["--few-shot"] = (0, true, int.MaxValue, true),
        ["--limit"] = (0, true, int.MaxValue, true),
        ["--components"] = (1, true, int.MaxValue, true),
        ["--vocab-size"] = (1, true, 16_000_000, true),
    };

    /// <summary>Adds the validators (and --allow-nonfinite) to every command under root.</summary>
    public static void Apply(Command root)
    {
        foreach (var cmd in Walk(root))
        {
            if (WeightLoaders.Contains(cmd.Name) && !cmd.Options.Contains(AllowNonFinite)) cmd.Options.Add(AllowNonFinite);
            foreach (var opt in cmd.Options)
            {
                var t = Nullable.GetUnderlyingType(opt.ValueType) ?? opt.ValueType;
                bool floating = t == typeof(double) || t == typeof(float);
                bool integral = t == typeof(int) || t == typeof(long);
                if (!floating && !integral) continue;
                bool ranged = Ranges.TryGetValue(opt.Name, out var range);
                if (!ranged && !floating) continue;
                if (opt.Validators.Any(v => v.Target is RangeTag)) continue;        // shared option, already checked
                var tag = new RangeTag(opt.Name, floating, ranged ? range : null);
                opt.Validators.Add(tag.Check);
            }
        }
    }

    /// <summary>Before invoking: hands --allow-nonfinite to the weight loader.</summary>
    public static void Prepare(ParseResult parse) =>
        WeightChecks.AllowNonFinite = parse.CommandResult.Command.Options.Contains(AllowNonFinite) && parse.GetValue(AllowNonFinite);

    static IEnumerable<Command> Walk(Command c) => c.Subcommands.SelectMany(Walk).Prepend(c);

    sealed record RangeTag(string Flag, bool Floating, (double Lo, bool LoIn, double Hi, bool HiIn)? Range)
    {
        public void Check(OptionResult r)
        {
            if (r.Tokens.Count == 0) return;                                    // the default, which is in range
            object? value;
            try { value = r.GetValueOrDefault<object?>(); }
            catch (InvalidOperationException) { return; }                     // not a number: the parser reports it
            if (value is null) return;
            double x = Convert.ToDouble(value, CultureInfo.InvariantCulture);
            string shown = r.Tokens[^1].Value;
            if (Floating && !double.IsFinite(x)) { r.AddError($"{Flag} {shown}: must be a finite number{Allowed()}."); return; }
            if (Range is not { } g) return;
            bool ok = (g.LoIn ? x >= g.Lo : x > g.Lo) && (g.HiIn ? x <= g.Hi : x < g.Hi);
            if (!ok) r.AddError($"{Flag} {shown}: out of range{Allowed()}.");
        }

        string Allowed()
        {
            if (Range is not { } g) return "";
            string F(double v) => v.ToString("G", CultureInfo.InvariantCulture);
            bool noTop = double.IsPositiveInfinity(g.Hi) || g.Hi >= int.MaxValue;
            if (noTop) return g.LoIn ? $"; use a value ≥ {F(g.Lo)}" : $"; use a value > {F(g.Lo)}";
            return $"; use a value in {(g.LoIn ? "[" : "(")}{F(g.Lo)}, {F(g.Hi)}{(g.HiIn ? "]" : ")")}";
        }
    }
}
