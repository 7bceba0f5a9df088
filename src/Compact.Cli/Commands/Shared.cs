using System.CommandLine;

namespace Compact.Cli.Commands;

/// <summary>Options shared by several verbs (one static instance per flag).</summary>
public static class Shared
{
    public static Option<string> Model() => new("--model") { Description = "Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json).", Required = true };
    public static readonly Option<string?> Adapter = new("--adapter") { Description = "LoRA adapter folder (PEFT layout) to apply on top of --model." };
    public static readonly Option<string> Device = new("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
    public static readonly Option<string> DType = new("--dtype") { Description = "float32 or bfloat16.", DefaultValueFactory = _ => "float32" };
    public static readonly Option<bool> Json = new("--json") { Description = "Print machine-readable JSON." };
    public static readonly Option<long> Seed = new("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 0 };
    public static Option<string> Out(string description) => new("--out") { Description = description, Required = true };
}

public static class Verbs
{
    public static IEnumerable<Command> All() =>
    [
        InitCommand.Create(),
        InfoCommand.Create(),
        ImportCommand.Create(),
        TokenizeCommand.Create(),
        GenerateCommand.Create(),
        SftCommand.Create(),
        MergeCommand.Create(),
        DistillCommand.Create(),
        ScoreCommand.Create(),
        ServeCommand.Create(),
        CheckCommand.Create(),
        TeachCommand.Create(),
        DataCommand.Create(),
        EvalCommand.Create(),
        DemoCommand.Create(),
        AnalyzeCommand.Create(),
        ReportCommand.Create(),
    ];
}
