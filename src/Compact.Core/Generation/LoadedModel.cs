using Compact.IO;
using Compact.Models;
using Compact.Tokenization;
using Compact.Training;

namespace Compact.Generation;

/// <summary>A model ready for inference: weights (with an optional LoRA adapter applied), tokenizer, chat format.</summary>
public sealed class LoadedModel : IDisposable
{
    public required CausalLM Model { get; init; }
    public required HfTokenizer Tokenizer { get; init; }
    public required ChatFormat Chat { get; init; }
    public LoraAdapters? Adapter { get; init; }
    public required string Name { get; init; }

    public static LoadedModel Load(string modelDir, string? adapterDir = null, string device = "cpu", string dtype = "float32")
    {
        var tok = Student.LoadTokenizer(modelDir);
        ChatFormat chat;
        try { chat = ChatFormat.For(tok); }
        catch (InvalidDataException e) { throw new CompactException($"{modelDir}: {e.Message}", e); }
        var model = CausalLM.Load(modelDir, Devices.Parse(device), Devices.ParseDType(dtype));
        LoraAdapters? lora = null;
        try
        {
            WeightChecks.RequireTokenizerFits(tok.VocabSize, model.Config, modelDir);
            WeightChecks.RequireFinite(model.named_parameters().Select(p => (p.name, (TorchSharp.torch.Tensor)p.parameter)), modelDir);
            if (adapterDir is not null) lora = LoraAdapters.Load(model, adapterDir);
            if (lora is not null) WeightChecks.RequireFinite(lora.NamedParameters().Select(p => (p.Key, (TorchSharp.torch.Tensor)p.Param)), adapterDir!);
        }
        catch { model.Dispose(); throw; }
        model.eval();
        var name = adapterDir is null ? Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd('/'))
            : $"{Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd('/'))}+{Path.GetFileName(Path.GetFullPath(adapterDir).TrimEnd('/'))}";
        return new LoadedModel { Model = model, Tokenizer = tok, Chat = chat, Adapter = lora, Name = name };
    }

    /// <summary>Greedy or sampled completions for several prompts at once.</summary>
    public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions o, CancellationToken ct = default,
        Action<int, int>? onToken = null, Action<TorchSharp.torch.Tensor>? onLogits = null)
    {
        var opts = o.EosIds.Count > 0 ? o : o with { EosIds = Tokenizer.EosIds.Append(Chat.EndOfTurnId).Distinct().ToList() };
        return TextGenerator.Generate(Model, prompts, opts, ids => Tokenizer.Decode(ids, skipSpecialTokens: true), Tokenizer.PadId, ct, onToken, onLogits);
    }

    public void Dispose()
    {
        Adapter?.Dispose();
        Model.Dispose();
    }
}
