using Compact.Distill;

namespace Compact.Demo;

/// <summary>How big the demo is. Full: the README's table (≤ 20 min on 2 cores for the default comparison); Quick:
/// the same pipeline in miniature (≤ 3 min), for a first look and the end-to-end test. The README's "Calibration"
/// section says which of these numbers were tuned, on which baseline runs, and to what.</summary>
public sealed record DemoScale
{
    public required string Name { get; init; }
    /// <summary>Distinct word problems the teachers answer (the distillation set).</summary>
    public int TrainProblems { get; init; }
    /// <summary>Original-knowledge questions (facts, one-step problems, comparisons in the student's own format) mixed
    /// into every method's training set alike, so about Replay/(Problems+Replay) of every batch replays them.</summary>
    public int ReplayQuestions { get; init; }
    /// <summary>Items in each test split (in-distribution, harder, facts, comparisons).</summary>
    public int TestItems { get; init; }
    /// <summary>In-distribution items the learning curves are measured on (a prefix of the in-distribution split).</summary>
    public int CurveItems { get; init; }
    /// <summary>Points of each learning curve (evenly spaced steps, the last one the end of training).</summary>
    public int CurvePoints { get; init; }
    /// <summary>Pre-training: an upper bound on steps; it stops earlier when the held-out loss stops improving.</summary>
    public int PretrainMaxSteps { get; init; }
    public int PretrainEvalEvery { get; init; }
    public int PretrainBatch { get; init; } = 32;
    public double PretrainLr { get; init; } = 3e-3;
    public int HeldOutItems { get; init; } = 64;
    public int DistillSteps { get; init; }
    /// <summary>Questions per optimizer step.</summary>
    public int Batch { get; init; } = 8;
    public double DistillLr { get; init; } = 1e-3;
    /// <summary>Full fine-tuning (the issue's measurement: LoRA learns too, but needs a higher rate and more steps).</summary>
    public bool FullFineTune { get; init; } = true;
    public int Seeds { get; init; }
    public int VocabSize { get; init; } = 1024;
    /// <summary>Steps per problem: training and in-distribution tests, and the harder split.</summary>
    public int MinSteps { get; init; } = 2;
    public int MaxSteps { get; init; } = 3;
    public int HardMinSteps { get; init; } = 4;
    public int HardMaxSteps { get; init; } = 5;
    public string Preset { get; init; } = "qwen2-small";
    public int EvalBatch { get; init; } = 64;

    public static readonly DemoScale Full = new()
    {
        Name = "full", TrainProblems = 2000, ReplayQuestions = 50, TestItems = 300, CurveItems = 100, CurvePoints = 4,
        PretrainMaxSteps = 2000, PretrainEvalEvery = 50, DistillSteps = 600, Seeds = 2,
    };

    public static readonly DemoScale Quick = new()
    {
        Name = "quick", TrainProblems = 48, ReplayQuestions = 24, TestItems = 24, CurveItems = 12, CurvePoints = 2,
        PretrainMaxSteps = 60, PretrainEvalEvery = 20, PretrainBatch = 16, HeldOutItems = 16, DistillSteps = 8, Batch = 4, Seeds = 2,
        Preset = "qwen2-tiny", VocabSize = 320, EvalBatch = 32,
    };

    /// <summary>`--all`: every method, at least three seeds.</summary>
    public DemoScale ForAll() => this with { Seeds = Math.Max(Seeds, Name == "quick" ? 2 : 3) };
}

public sealed record DemoOptions
{
    public string Out { get; init; } = "compact-demo";
    public bool Quick { get; init; }
    /// <summary>Every method (ablations, MoT, MCC-KD, every single teacher) rather than the default comparison.</summary>
    public bool All { get; init; }
    public long Seed { get; init; }
    public DemoScale? Scale { get; init; }
    /// <summary>Only these methods (by table name; calibration runs the baselines alone); null: the mode's set.</summary>
    public IReadOnlyList<string>? Only { get; init; }
    /// <summary>Seeds per method instead of the scale's (calibration).</summary>
    public int? Seeds { get; init; }

    public DemoScale ResolvedScale
    {
        get
        {
            var s = Scale ?? (Quick ? DemoScale.Quick : DemoScale.Full);
            if (All) s = s.ForAll();
            return Seeds is { } n ? s with { Seeds = n } : s;
        }
    }

    public IReadOnlyList<DemoMethod> Methods
    {
        get
        {
            var set = All || Only is not null ? DemoMethod.Every() : DemoMethod.Default();
            if (Only is null) return set;
            foreach (var name in Only)
                if (!set.Any(m => m.Name == name))
                    throw new CompactException($"--methods: unknown method \"{name}\"; choose from {string.Join(", ", set.Select(m => m.Name))}.");
            return set.Where(m => Only.Contains(m.Name)).ToList();
        }
    }

    public string Command => "compact demo" + (Quick ? " --quick" : "") + (All ? " --all" : "") + (Seed != 0 ? $" --seed {Seed}" : "")
        + (Only is not null ? $" --methods {string.Join(",", Only)}" : "") + (Seeds is { } n ? $" --seeds {n}" : "");
}

/// <summary>One training mode of the comparison: a name for the table and the distill settings it means.</summary>
public sealed record DemoMethod(string Name, DistillMethod Method, string? Teacher = null, FusionWeights? Fusion = null)
{
    public bool IsCompactVariant => Method == DistillMethod.Compact;

    /// <summary>`compact demo`: COMPACT, the uniform average and two single teachers (the concise generalist, closest to
    /// the student's style, and the verbose expert, farthest from it).</summary>
    public static IReadOnlyList<DemoMethod> Default() =>
    [
        new("compact", DistillMethod.Compact),
        new("uniform", DistillMethod.Uniform),
        new("single-concise", DistillMethod.Single, "concise"),
        new("single-verbose", DistillMethod.Single, "verbose"),
    ];

    /// <summary>`compact demo --all`: every method, the three ablations and every single teacher.</summary>
    public static IReadOnlyList<DemoMethod> Every()
    {
        var d = new FusionWeights();
        return
        [
            new("compact", DistillMethod.Compact),
            new("uniform", DistillMethod.Uniform),
            new("mot", DistillMethod.Mot),
            new("mcc-kd", DistillMethod.Mcc),
            .. ScriptedTeacher.Names.Select(t => new DemoMethod($"single-{t}", DistillMethod.Single, t)),
            new("compact-no-mi", DistillMethod.Compact, Fusion: d with { BetaMi = 0 }),
            new("compact-no-cons", DistillMethod.Compact, Fusion: d with { BetaCons = 0 }),
            new("compact-no-ppl", DistillMethod.Compact, Fusion: d with { BetaPpl = 0 }),
        ];
    }
}
