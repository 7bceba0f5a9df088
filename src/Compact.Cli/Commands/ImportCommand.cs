using System.CommandLine;
using Compact.IO;

namespace Compact.Cli.Commands;

/// <summary>`compact import llama2c`: a llama2.c checkpoint (run.c format) into a Hugging Face Llama folder.</summary>
public static class ImportCommand
{
    static readonly Argument<string> Checkpoint = new("checkpoint") { Description = "llama2.c checkpoint (.bin in run.c's format, e.g. stories260K.bin)." };
    static readonly Option<string?> TokenizerModel = new("--tokenizer-model") { Description = "The model's sentencepiece tokenizer (tok512.model, tokenizer.model), copied into the folder as tokenizer.model." };
    static readonly Option<string> Out = Shared.Out("Folder to write the Hugging Face model into (must not hold a model yet).");

    public static Command Create()
    {
        var llama2c = new Command("llama2c", "Convert a llama2.c checkpoint into a Hugging Face LlamaForCausalLM folder (config.json, model.safetensors).")
        {
            Checkpoint, TokenizerModel, Out,
        };
        llama2c.SetAction(p => Run(p.GetValue(Checkpoint)!, p.GetValue(TokenizerModel), p.GetValue(Out)!, p.InvocationConfiguration.Output));
        return new Command("import", "Convert a checkpoint from another format into a Hugging Face folder.") { llama2c };
    }

    public static int Run(string checkpoint, string? tokenizerModel, string outDir, TextWriter output)
    {
        if (!File.Exists(checkpoint)) throw new CompactException($"{checkpoint}: llama2.c checkpoint not found.");
        var cfg = Llama2c.Convert(checkpoint, outDir, tokenizerModel);
        output.WriteLine($"Wrote {cfg.Architecture} ({cfg.ParameterCount():N0} parameters, vocabulary {cfg.VocabSize}) to {outDir}"
            + (tokenizerModel is null ? " (no tokenizer: pass --tokenizer-model)" : ""));
        return 0;
    }
}
