using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Models;

/// <summary>Gradient checkpointing per decoder layer, as a custom autograd function: forward runs the layer
/// without building a graph and keeps only its input; backward re-runs the layer with grad enabled (replaying
/// the same dropout masks) and back-propagates through the recomputed graph. Parameter gradients accumulate
/// in that inner backward, as in PyTorch's reentrant torch.utils.checkpoint.</summary>
public sealed class LayerCheckpoint : autograd.SingleTensorFunction<LayerCheckpoint>
{
    public override string Name => nameof(LayerCheckpoint);

    public static Tensor Run(DecoderLayer layer, Tensor x, SharedContext ctx, DropoutStream dropout) =>
        apply(x, new Closure(layer, ctx, dropout));

    sealed record Closure(DecoderLayer Layer, SharedContext Shared, DropoutStream Dropout)
    {
        public AttentionContext Ctx => Shared.Context;
    }

    /// <summary>The attention context kept alive past the forward's dispose scope until every layer that uses it
    /// has run its backward (or the garbage collector finalises it, if no backward ever comes).</summary>
    public sealed class SharedContext
    {
        int _pending;
        public AttentionContext Context { get; }

        public SharedContext(AttentionContext ctx, int users)
        {
            Context = Copy(ctx)!;
            _pending = users;
        }

        static AttentionContext? Copy(AttentionContext? c) => c is null ? null
            : c with { Cos = Keep(c.Cos)!, Sin = Keep(c.Sin)!, Mask = Keep(c.Mask), Cache = null, Sliding = Copy(c.Sliding) };

        static Tensor? Keep(Tensor? t) => t?.alias().DetachFromDisposeScope();

        public void Release()
        {
            if (Interlocked.Decrement(ref _pending) > 0) return;
            for (var c = Context; c is not null; c = c.Sliding) { c.Cos.Dispose(); c.Sin.Dispose(); c.Mask?.Dispose(); }
        }
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var c = (Closure)vars[1];
        ctx.save_for_backward([x]);
        ctx.save_data("closure", c);
        ctx.save_data("dropout_position", c.Dropout.Position);
        return c.Layer.Forward(x, c.Ctx);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        var x = ctx.get_saved_variables()[0];
        var c = (Closure)ctx.get_data("closure");
        long resumeAt = c.Dropout.Position;
        c.Dropout.Position = (long)ctx.get_data("dropout_position");
        using var input = x.detach().requires_grad_(true);
        using (torch.enable_grad())
        {
            using var scope = NewDisposeScope();
            var y = c.Layer.Forward(input, c.Ctx);
            y.backward([grad_output]);
        }
        c.Dropout.Position = resumeAt;
        c.Shared.Release();
        var gx = input.grad!.clone();
        return [gx, null!];
    }
}
