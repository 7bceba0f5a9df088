using System.Text.Json.Nodes;
using Compact.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Compact.Distill;

public enum DistillMethod { Compact, Uniform, Single, Mot, Mcc }

/// <summary>Multi-teacher distillation on the engine, --batch-size questions (or as many as --max-tokens-per-batch
/// holds) per micro-batch, their branches in one packed batch: COMPACT (weights from compatibility scores, plus the consistency loss), uniform average
/// (α = 1/K), single teacher, and MCC-KD (two rationales per step, CE + a·symmetric KL on the answer span).
/// Every question's scores and weights are logged with its step.</summary>
public sealed class DistillRecipe : ITrainRecipe
{
    readonly Student _student;
    readonly IReadOnlyList<QuestionBranches> _questions;
    readonly CompactObjective _objective;
    readonly DistillMethod _method;
    readonly double _mccWeight;
    readonly long _seed;
    long _mccDraws;

    public DistillRecipe(Student student, IReadOnlyList<QuestionBranches> questions, CompactObjective objective, DistillMethod method,
        double mccWeight = 0.1, long seed = 0)
    {
        if (method == DistillMethod.Mot) throw new ArgumentException("MoT runs through MotRunner");
        _student = student; _questions = questions; _objective = objective; _method = method; _mccWeight = mccWeight; _seed = seed;
        TrainableParameters = student.Trainable;
    }

    public int ItemCount => _questions.Count;
    /// <summary>A question's tokens: all its branches, as a packed batch holds them.</summary>
    public IReadOnlyList<int>? ItemTokens => _questions.Select(q => q.Branches.Sum(b => b.Length)).ToList();
    public IReadOnlyList<Parameter> TrainableParameters { get; }

    public MicroResult Forward(int[] items)
    {
        var qs = items.Select(i => _questions[i]).ToList();
        var parts = new List<(Tensor Loss, IReadOnlyList<QuestionOutcome> Outcomes)>();
        switch (_method)
        {
            case DistillMethod.Compact:
                parts.Add(Run(_objective.RunMany(qs, WeightMode.Compact, withLoss: true)));
                break;
            case DistillMethod.Mcc:
            {
                // Two rationales drawn per question per step (deterministic in the seed and the draw count, so resumable);
                // a question with one rationale is plain SFT.
                var pairs = new List<QuestionBranches>();
                var single = new List<QuestionBranches>();
                foreach (var qb in qs)
                {
                    if (qb.K < 2) { single.Add(qb); continue; }
                    var (a, b) = DrawPair(_seed, _mccDraws++, qb.K);
                    pairs.Add(qb with { Branches = [qb.Branches[a], qb.Branches[b]] });
                }
                if (pairs.Count > 0) parts.Add(Run(_objective.RunMany(pairs, WeightMode.Uniform, true, (_, _) => _mccWeight)));            // two branches: α = ½ each
                if (single.Count > 0) parts.Add(Run(_objective.RunMany(single, WeightMode.Uniform, true)));
                break;
            }
            default:
                // Uniform average (λ·α_iα_j = λ/K² when --lambda is given), single teacher (one branch per question).
                parts.Add(Run(_objective.RunMany(qs, WeightMode.Uniform, withLoss: true)));
                break;
        }
        Tensor loss = Recombine(parts.Select(p => (p.Loss, p.Outcomes.Count)).ToList());
        var outcomes = parts.SelectMany(p => p.Outcomes).ToList();
        var result = new Dictionary<string, double> { ["loss_sft"] = outcomes.Average(o => o.SftPart) };
        if (_method is DistillMethod.Compact or DistillMethod.Mcc || _method == DistillMethod.Uniform && _objective.Options.Lambda > 0)
            result["loss_cons"] = outcomes.Average(o => o.ConsPart);
        return new MicroResult(loss, result, outcomes.Sum(o => o.Tokens), outcomes.Select(o => o.Log).ToList());
    }

    /// <summary>MCC-KD's pair for draw number <paramref name="draw"/> of a run seeded <paramref name="seed"/>: two
    /// different branches of K, uniformly among the K(K-1) ordered pairs. A pure function of (seed, draw), so a resumed
    /// run (which restores the draw count) draws what the uninterrupted one would.</summary>
    public static (int A, int B) DrawPair(long seed, long draw, int k)
    {
        if (k < 2) throw new ArgumentOutOfRangeException(nameof(k), "a pair needs two branches");
        var rng = new Random(Seeds.Mix(seed, draw));
        int a = rng.Next(k), b = rng.Next(k - 1);
        if (b >= a) b++;
        return (a, b);
    }

    /// <summary>Each part's loss is the mean over its n questions; the micro-batch's loss is the mean over all of them:
    /// Σ_p L_p·n_p / Σ_p n_p.</summary>
    public static Tensor Recombine(IReadOnlyList<(Tensor Loss, int Questions)> parts)
    {
        int n = parts.Sum(p => p.Questions);
        return parts.Select(p => p.Loss.mul((double)p.Questions / n)).Aggregate((x, y) => x.add(y));
    }

    static (Tensor, IReadOnlyList<QuestionOutcome>) Run((Tensor? Loss, IReadOnlyList<QuestionOutcome> Outcomes) r) => (r.Loss!, r.Outcomes);

    public void SaveWeights(string dir) => _student.SaveTrainable(dir);
    public void LoadWeights(string dir) => _student.LoadTrainable(dir);
    public JsonObject SaveState() => new() { ["dropout_position"] = _student.Model.Dropout.Position, ["mcc_draws"] = _mccDraws };

    public void LoadState(JsonObject state)
    {
        _student.Model.Dropout.Position = state["dropout_position"]?.GetValue<long>() ?? 0;
        _mccDraws = state["mcc_draws"]?.GetValue<long>() ?? 0;
    }
}
