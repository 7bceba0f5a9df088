using System.Text.Json.Nodes;

namespace Compact.Training;

/// <summary>A run's configuration as the engine saves it (run_config.json) and checks it before a resume: its JSON,
/// and which settings may differ between a run and its resumption (they change where or how often the run saves, not
/// what it computes). Settings are named by their JSON path: "out", "train.save_every".</summary>
public interface IRunConfig
{
    JsonObject ToJson();
    IReadOnlySet<string> MayDifferOnResume { get; }
}

/// <summary>A flat JSON object of settings (the sft command's resolved options, a demo's pre-training key, a MoT
/// branch's round and teacher); its keys that may differ on resume are <see cref="RunIdentity.Tolerant"/>.</summary>
public sealed record JsonRunConfig(JsonObject Json) : IRunConfig
{
    public JsonObject ToJson() => (JsonObject)Json.DeepClone();
    public IReadOnlySet<string> MayDifferOnResume => RunIdentity.Tolerant;
}
