using System.CommandLine;
using Compact.Generation;
using Compact.IO;
using Compact.Models;
using Compact.Training;

namespace Compact.Cli.Commands;

public static class MergeCommand
{
    static readonly Option<string> Model = Shared.Model();
    static readonly Option<string> Adapter = new("--adapter") { Description = "LoRA adapter folder (PEFT layout).", Required = true };
    static readonly Option<string> Out = Shared.Out("Folder for the merged Hugging Face checkpoint.");
    static readonly Option<bool> Overwrite = new("--overwrite") { Description = "Replace a checkpoint already in --out (otherwise refused)." };
    static readonly Option<long> MaxShard = new("--max-shard-bytes") { Description = "Largest safetensors shard in bytes.", DefaultValueFactory = _ => CheckpointWriter.DefaultMaxShardBytes };

    public static Command Create()
    {
        var c = new Command("merge", "Merge a LoRA adapter into its base model and write a complete Hugging Face checkpoint in the base's dtype.")
        {
            Model, Adapter, Out, MaxShard, Overwrite,
        };
        c.SetAction(p => Run(p.GetValue(Model)!, p.GetValue(Adapter)!, p.GetValue(Out)!, p.GetValue(MaxShard), p.InvocationConfiguration.Output,
            p.GetValue(Overwrite)));
        return c;
    }

    public static int Run(string model, string adapter, string outDir, long maxShard, TextWriter output, bool overwrite = false)
    {
        if (Path.GetFullPath(model).TrimEnd('/') == Path.GetFullPath(outDir).TrimEnd('/'))
            throw new CompactException("--out must differ from --model (merging never overwrites the base checkpoint).");
        if (!overwrite && (File.Exists(Path.Combine(outDir, "config.json")) || File.Exists(Path.Combine(outDir, CheckpointReader.SingleFile))
                || File.Exists(Path.Combine(outDir, CheckpointReader.IndexFile))))
            throw new CompactException($"--out {outDir} already holds a checkpoint; choose another --out, or pass --overwrite to replace it.");
        // Merge in float32 whatever the storage dtype; each tensor is written back in the base's own dtype. Merging needs
        // neither the tokenizer nor the chat format, so any chat template is fine.
        using var m = CausalLM.Load(model, TorchSharp.torch.CPU, TorchSharp.torch.ScalarType.Float32);
        WeightChecks.RequireFinite(m.named_parameters().Select(p => (p.name, (TorchSharp.torch.Tensor)p.parameter)), model);
        using var lora = LoraAdapters.Load(m, adapter);
        WeightChecks.RequireFinite(lora.NamedParameters().Select(p => (p.Key, (TorchSharp.torch.Tensor)p.Param)), adapter);
        var (r, alpha) = (lora.Config.Rank, lora.Config.Alpha);
        lora.MergeIntoBase();
        m.Save(outDir, dtype: null, maxShardBytes: maxShard);
        Student.CopyTokenizerFiles(model, outDir);
        output.WriteLine($"Merged {adapter} (r={r}, alpha={alpha}) into {model} → {outDir}");
        return 0;
    }
}
