namespace Compact.Bench;

/// <summary>One benchmark program: a description for the list and an entry point taking the remaining arguments.</summary>
public sealed record BenchEntry(string Description, Func<string[], int> Run);

/// <summary>Every benchmark by name. To add one: a static class with a <c>Run(string[] args)</c> method, and one line here.</summary>
public static class Registry
{
    public static readonly IReadOnlyDictionary<string, BenchEntry> All = new SortedDictionary<string, BenchEntry>(StringComparer.OrdinalIgnoreCase)
    {
        ["model-throughput"] = new("Prefill and cached decoding of a Qwen2.5-0.5B-shaped model (f32, bf16), MFU against the measured matmul rate, cached vs recomputed decoding.", ModelThroughput.Run),
        ["train-throughput"] = new("LoRA training steps of a Qwen2.5-0.5B-shaped model (r 16, sequence 512, bf16): tokens/s, peak memory, MFU.", TrainThroughput.Run),
        ["compact-overhead"] = new("Step time of COMPACT vs the uniform average on the same questions (probe and exact MI estimators).", CompactOverhead.Run),
        ["compact-padding"] = new("Padded vs packed COMPACT steps (committee SVAMP and the demo's teachers, 1/4/8 questions per micro-batch): padding waste, step time, against SFT over the same tokens.", CompactPadding.Run),
        ["demo"] = new("The full `compact demo`: its accuracy table becomes bench/results/demo.json, the reference for later changes.", DemoBench.Run),
        ["eval-throughput"] = new("Questions per second of `compact eval` on GSM8K with a tiny model: batched generation vs one question at a time.", EvalThroughput.Run),
        ["endpoint-throughput"] = new("Questions per second of `compact eval --endpoint` against an in-process `compact serve` at concurrency 1, 4, 8 vs local eval of the same tiny model.", EndpointThroughput.Run),
    };

    public static void PrintList(TextWriter w)
    {
        w.WriteLine("usage: dotnet run -c Release --project bench/Compact.Bench -- <benchmark> [options]");
        w.WriteLine();
        w.WriteLine("benchmarks:");
        int width = All.Keys.Max(k => k.Length);
        foreach (var (name, e) in All) w.WriteLine($"  {name.PadRight(width)}  {e.Description}");
    }
}
