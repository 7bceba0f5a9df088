using Compact.IO;
using Compact.Models;
using Compact.Tokenization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Compact.Training;

public sealed record StudentOptions
{
    public required string ModelDir { get; init; }
    public string Device { get; init; } = "cpu";
    public string DType { get; init; } = "float32";
    /// <summary>Full fine-tuning instead of LoRA.</summary>
    public bool Full { get; init; }
    public LoraConfig Lora { get; init; } = new();
    public bool GradientCheckpointing { get; init; }
    public long Seed { get; init; }
}

/// <summary>The model being trained with its tokenizer and chat format, and its trainable state: LoRA adapters
/// (default) or every weight (full fine-tuning). Saves checkpoints and the final export.</summary>
public sealed class Student : IDisposable
{
    public CausalLM Model { get; }
    public HfTokenizer Tokenizer { get; }
    public ChatFormat Chat { get; }
    public LoraAdapters? Lora { get; private set; }
    public StudentOptions Options { get; }

    Student(StudentOptions o, CausalLM m, HfTokenizer tok, ChatFormat chat)
    {
        Options = o; Model = m; Tokenizer = tok; Chat = chat;
    }

    public static Student Load(StudentOptions o)
    {
        var device = Devices.Parse(o.Device);
        var dtype = Devices.ParseDType(o.DType);
        var tok = LoadTokenizer(o.ModelDir);
        var chat = ChatFormat.For(tok);
        var m = CausalLM.Load(o.ModelDir, device, dtype);
        try
        {
            IO.WeightChecks.RequireTokenizerFits(tok.VocabSize, m.Config, o.ModelDir);
            IO.WeightChecks.RequireFinite(m.named_parameters().Select(p => (p.name, (TorchSharp.torch.Tensor)p.parameter)), o.ModelDir);
        }
        catch { m.Dispose(); throw; }
        var s = new Student(o, m, tok, chat);
        m.GradientCheckpointing = o.GradientCheckpointing;
        m.Dropout.Seed = o.Seed;
        if (o.Full)
        {
            foreach (var p in m.parameters()) p.requires_grad = true;
        }
        else s.Lora = LoraAdapters.Attach(m, o.Lora, o.Seed);
        m.train();
        return s;
    }

    public static HfTokenizer LoadTokenizer(string dir)
    {
        try { return HfTokenizer.Load(dir); }
        catch (InvalidDataException e) { throw new CompactException(e.Message, e); }
        catch (FileNotFoundException e) { throw new CompactException($"{dir}: {e.Message} A model folder needs tokenizer.json and tokenizer_config.json.", e); }
    }

    /// <summary>Replaces the LoRA adapters with fresh ones (used by MoT, which trains a new branch per teacher).</summary>
    public void ResetLora(long seed)
    {
        if (Options.Full) throw new InvalidOperationException("full fine-tuning has no adapters");
        Lora?.Dispose();
        Lora = LoraAdapters.Attach(Model, Options.Lora, seed);
        Model.train();
    }

    public IReadOnlyList<Parameter> Trainable =>
        Lora is not null ? Lora.Parameters().ToList() : Model.parameters().Where(p => p.requires_grad).ToList();

    /// <summary>Checkpoint weights: the adapter in PEFT layout, or all weights in the training dtype (exact resume).</summary>
    public void SaveTrainable(string dir)
    {
        if (Lora is not null) Lora.Save(dir, Path.GetFullPath(Options.ModelDir));
        else CheckpointWriter.Save(dir, Model.CheckpointTensors(Model.DType));
    }

    public void LoadTrainable(string dir)
    {
        if (Lora is not null) { Lora.LoadWeights(Path.Combine(dir, LoraAdapters.WeightsFile)); return; }
        using var r = CheckpointReader.Open(dir);
        Model.LoadWeights(r);                        // copies in place: the parameters stay trainable
    }

    /// <summary>The run's result: out/adapter (PEFT) for LoRA, or out/model (a complete HF checkpoint in the base
    /// model's dtypes, with its tokenizer files) for full fine-tuning. Returns the folder written.</summary>
    public string ExportFinal(string outDir)
    {
        if (Lora is not null)
        {
            var dir = Path.Combine(outDir, "adapter");
            Lora.Save(dir, Path.GetFullPath(Options.ModelDir));
            return dir;
        }
        var mdir = Path.Combine(outDir, "model");
        Model.Save(mdir);
        CopyTokenizerFiles(Options.ModelDir, mdir);
        return mdir;
    }

    public static readonly string[] TokenizerFiles =
        ["tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt"];

    public static void CopyTokenizerFiles(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in TokenizerFiles)
        {
            var src = Path.Combine(from, f);
            if (File.Exists(src)) AtomicFile.WriteAllBytes(Path.Combine(to, f), File.ReadAllBytes(src));
        }
    }

    public void Dispose()
    {
        Lora?.Dispose();
        Model.Dispose();
    }
}
