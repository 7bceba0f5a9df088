using System.Text.Json.Nodes;
using Compact.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Compact.Training;

/// <summary>Supervised fine-tuning on chain-of-thought targets: token cross-entropy on the assistant tokens of
/// right-padded micro-batches, averaged over all target tokens of the micro-batch.</summary>
public sealed class SftRecipe(Student student, IReadOnlyList<SftExample> examples) : ITrainRecipe
{
    public int ItemCount => examples.Count;
    public IReadOnlyList<Parameter> TrainableParameters { get; } = student.Trainable;

    public MicroResult Forward(int[] items)
    {
        var m = student.Model;
        using var batch = PaddedBatch.Right(items.Select(i => examples[i].Encoded.Ids).ToList(),
            items.Select(i => examples[i].Encoded.IsTarget).ToList(), student.Tokenizer.PadId, m.Device);
        using var o = m.Forward(batch.Ids, batch.Attention);
        using var lp = Losses.TargetLogProbs(m, o.Hidden, batch.Ids, batch.Target);
        long n = (long)lp.Counts.sum().item<float>();
        var loss = lp.Nll.sum().div(Math.Max(1, n));      // token-weighted mean over the micro-batch
        return new MicroResult(loss, new Dictionary<string, double>(), n);
    }

    public void SaveWeights(string dir) => student.SaveTrainable(dir);
    public void LoadWeights(string dir) => student.LoadTrainable(dir);
    public JsonObject SaveState() => new() { ["dropout_position"] = student.Model.Dropout.Position };
    public void LoadState(JsonObject state) => student.Model.Dropout.Position = state["dropout_position"]?.GetValue<long>() ?? 0;
}
