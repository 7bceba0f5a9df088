using System.Text.Json.Nodes;
using Compact.Training;
using Compact.Util;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;

namespace Compact.Tests.Training;

/// <summary>Gradient accumulation weights each micro-batch by its share of the step's target tokens (CONVENTIONS:
/// every part logged, token-weighted).</summary>
public class TokenWeightTests
{
    /// <summary>One scalar weight w; micro-batch i has mean loss L_i = c_i·w over n_i target tokens.</summary>
    sealed class LinearRecipe(double[] c, long[] n) : ITrainRecipe, IDisposable
    {
        readonly Parameter _w = new(torch.tensor(2.0f), requires_grad: true);
        public int ItemCount => c.Length;
        public IReadOnlyList<Parameter> TrainableParameters => [_w];
        public MicroResult Forward(int[] items)
        {
            int i = Assert.Single(items);
            var loss = _w.mul(c[i]);
            return new MicroResult(loss, new Dictionary<string, double> { ["loss_part"] = loss.item<float>() }, n[i]);
        }
        public void SaveWeights(string dir) { }
        public void LoadWeights(string dir) { }
        public JsonObject SaveState() => new();
        public void LoadState(JsonObject state) { }
        public void Dispose() => _w.Dispose();
    }

    [Fact]
    public void Micro_batches_are_weighted_by_their_target_tokens()
    {
        using var dir = new TestUtil.TempDir();
        // c = [1, 4], n = [1, 3], w = 2: L = [2, 8].
        // Loss = (1·2 + 3·8) / 4 = 6.5 (equal weights would give 5); dLoss/dw = (1·1 + 3·4) / 4 = 3.25 (equal: 2.5).
        // With clipping off, grad_norm is |dLoss/dw|.
        var o = new EngineOptions
        {
            OutDir = dir["run"], MicroBatch = 1, GradAccum = 2, MaxSteps = 1, Shuffle = false,
            Optim = new OptimizerOptions { MaxGradNorm = 0, Lr = 1e-3, WeightDecay = 0 },
        };
        using var recipe = new LinearRecipe([1, 4], [1, 3]);
        var s = Engine.Run(recipe, o, new JsonObject(), TextWriter.Null, ProgressHost.Silent);
        Assert.Equal(6.5, s.FinalLoss, 5);
        var line = Assert.Single(StepRecord.ReadAll(dir["run/metrics.jsonl"]));
        Assert.Equal(6.5, line.Loss!.Value, 5);
        Assert.Equal(3.25, line.GradNorm!.Value, 5);
        Assert.Equal(6.5, line.LossParts["loss_part"], 5);
        Assert.Equal(4, line.Tokens);
    }
}
