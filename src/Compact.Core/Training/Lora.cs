using System.Text.Json.Serialization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.IO;
using Compact.Models;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using Linear = Compact.Models.Linear;
using static TorchSharp.torch;

namespace Compact.Training;

/// <summary>LoRA hyper-parameters (PEFT names in comments). Targets are matched against the last component of
/// each linear layer's name (PEFT's suffix matching); "all-linear" means every projection except lm_head.</summary>
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record LoraConfig
{
    public static readonly IReadOnlyList<string> AllLinear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    // JSON names are PEFT's (adapter_config.json).
    [JsonPropertyName("r")] public int Rank { get; init; } = 16;
    [JsonPropertyName("lora_alpha")] public double Alpha { get; init; } = 32;
    [JsonPropertyName("lora_dropout")] public double Dropout { get; init; } = 0.1;
    [JsonPropertyName("target_modules")] public IReadOnlyList<string> TargetModules { get; init; } = AllLinear;
    [JsonIgnore] public double Scaling => Alpha / Rank;

    public LoraConfig Validate()
    {
        if (Rank <= 0) throw new CompactException($"LoRA rank must be positive (got {Rank}); use --lora-r 8 or 16.");
        if (Alpha <= 0) throw new CompactException($"LoRA alpha must be positive (got {Alpha}).");
        if (Dropout is < 0 or >= 1) throw new CompactException($"LoRA dropout must be in [0, 1) (got {Dropout}).");
        var unknown = TargetModules.Where(t => !AllLinear.Contains(t)).ToList();
        if (TargetModules.Count == 0 || unknown.Count > 0)
            throw new CompactException($"unknown LoRA target module(s) {string.Join(", ", unknown)}; choose from {string.Join(", ", AllLinear)}.");
        return this;
    }
}

/// <summary>The LoRA adapters attached to a model's linear layers, with PEFT's on-disk layout:
/// adapter_config.json and adapter_model.safetensors holding
/// base_model.model.{module}.lora_A.weight (r, in) and lora_B.weight (out, r).</summary>
public sealed class LoraAdapters : IDisposable
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";

    readonly List<(string Module, Linear Layer, LoraAdapter Adapter)> _items = new();
    public CausalLM Model { get; }
    public LoraConfig Config { get; }

    LoraAdapters(CausalLM model, LoraConfig config) { Model = model; Config = config; }

    public IReadOnlyList<(string Module, Linear Layer, LoraAdapter Adapter)> Items => _items;

    /// <summary>Trainable parameters under their PEFT keys, in a fixed order.</summary>
    public IEnumerable<(string Key, Parameter Param)> NamedParameters()
    {
        foreach (var (module, _, a) in _items)
        {
            yield return ($"base_model.model.{module}.lora_A.weight", a.A);
            yield return ($"base_model.model.{module}.lora_B.weight", a.B);
        }
    }

    public IEnumerable<Parameter> Parameters() => NamedParameters().Select(p => p.Param);

    /// <summary>Attaches fresh adapters (A Kaiming-uniform with a = √5 as PEFT/nn.Linear do, B zero) to every
    /// targeted linear layer and freezes all base weights. Adapters are float32 whatever the base dtype.</summary>
    public static LoraAdapters Attach(CausalLM model, LoraConfig config, long seed)
    {
        config.Validate();
        using var gen = new Generator((ulong)seed, torch.CPU);
        var set = new LoraAdapters(model, config);
        foreach (var p in model.parameters()) p.requires_grad = false;
        model.Dropout.Seed = seed;
        foreach (var (module, lin) in TargetLayers(model, config.TargetModules))
        {
            if (lin.Lora is not null) throw new InvalidOperationException($"{module} already has a LoRA adapter");
            // kaiming_uniform_(a=√5): bound = gain·√(3/fan_in) with gain = √(2/(1+a²)) = √(1/3) → bound = 1/√fan_in.
            double bound = 1.0 / Math.Sqrt(lin.InFeatures);
            using var a0 = torch.rand([config.Rank, lin.InFeatures], dtype: ScalarType.Float32, generator: gen).mul_(2 * bound).sub_(bound);
            var a = new Parameter(a0.to(model.Device), requires_grad: true);
            var b = new Parameter(torch.zeros([lin.OutFeatures, config.Rank], dtype: ScalarType.Float32, device: model.Device), requires_grad: true);
            var ad = new LoraAdapter(a, b, config.Alpha, config.Dropout, model.Dropout);
            lin.Lora = ad;
            set._items.Add((module, lin, ad));
        }
        return set;
    }

    static IEnumerable<(string Module, Linear Layer)> TargetLayers(CausalLM model, IReadOnlyList<string> targets)
    {
        foreach (var (name, mod) in model.named_modules())
            if (mod is Linear lin && name != "lm_head" && targets.Contains(name.Split('.')[^1]))
                yield return (name, lin);
    }

    public void Save(string dir, string baseModel)
    {
        Directory.CreateDirectory(dir);
        var tensors = NamedParameters().Select(p => TensorSource.Of(p.Key, p.Param.detach())).ToList();
        SafeTensorsWriter.Write(Path.Combine(dir, WeightsFile), tensors);
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFile), ConfigJson(Config, baseModel).ToJsonString(Compact.Util.Jsonl.Indented));
    }

    /// <summary>adapter_config.json with every field PEFT's LoraConfig writes that readers (PEFT, vLLM,
    /// llama.cpp's convert_lora_to_gguf.py) look at.</summary>
    public static JsonObject ConfigJson(LoraConfig c, string baseModel) => new()
    {
        ["peft_type"] = "LORA",
        ["task_type"] = "CAUSAL_LM",
        ["base_model_name_or_path"] = baseModel,
        ["r"] = c.Rank,
        ["lora_alpha"] = c.Alpha,
        ["lora_dropout"] = ModelConfig.JsonFloat(c.Dropout),   // a float in PEFT's LoraConfig ("0.0", not "0")
        ["target_modules"] = new JsonArray(c.TargetModules.Select(t => (JsonNode)t).ToArray()),
        ["bias"] = "none",
        ["fan_in_fan_out"] = false,
        ["inference_mode"] = true,
        ["init_lora_weights"] = true,
        ["modules_to_save"] = null,
        ["use_rslora"] = false,
        ["use_dora"] = false,
        ["layers_to_transform"] = null,
        ["layers_pattern"] = null,
        ["rank_pattern"] = new JsonObject(),
        ["alpha_pattern"] = new JsonObject(),
        ["revision"] = null,
    };

    public static LoraConfig ReadConfig(string dir)
    {
        var path = Path.Combine(dir, ConfigFile);
        if (!File.Exists(path)) throw new CompactException($"{dir}: no {ConfigFile}; --adapter must be a folder written by `compact sft/distill` or PEFT.");
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new JsonException("not an object"); }
        catch (JsonException e) { throw new CompactException($"{path}: not valid JSON ({e.Message})."); }
        if (o["peft_type"]?.GetValue<string>() is { } pt && pt != "LORA")
            throw new CompactException($"{path}: peft_type {pt} is not supported (only LORA).");
        if (o["use_dora"]?.GetValue<bool>() == true || o["use_rslora"]?.GetValue<bool>() == true)
            throw new CompactException($"{path}: DoRA/rsLoRA adapters are not supported.");
        var targets = o["target_modules"] switch
        {
            JsonArray a => a.Select(x => x!.GetValue<string>()).ToList(),
            JsonValue v when v.GetValue<string>() == "all-linear" => LoraConfig.AllLinear.ToList(),
            _ => throw new CompactException($"{path}: target_modules must be a list of module names."),
        };
        return new LoraConfig
        {
            Rank = o["r"]?.GetValue<int>() ?? throw new CompactException($"{path}: missing r."),
            Alpha = o["lora_alpha"]?.GetValue<double>() ?? throw new CompactException($"{path}: missing lora_alpha."),
            Dropout = o["lora_dropout"]?.GetValue<double>() ?? 0,
            TargetModules = targets,
        }.Validate();
    }

    /// <summary>Attaches adapters from a PEFT folder and loads their weights strictly (every targeted module
    /// must have A and B of the right shapes; no key may be left over).</summary>
    public static LoraAdapters Load(CausalLM model, string dir)
    {
        var cfg = ReadConfig(dir);
        var set = Attach(model, cfg, seed: 0);
        try { set.LoadWeights(Path.Combine(dir, WeightsFile)); return set; }
        catch { set.Detach(); set.Dispose(); throw; }
    }

    public void LoadWeights(string path)
    {
        if (!File.Exists(path)) throw new CompactException($"{path}: adapter weights not found.");
        using var reader = CheckpointReader.OpenFile(path);
        // PEFT also writes keys with the adapter name (".lora_A.default.weight") in some versions: accept both.
        static string Norm(string k) => k.Replace(".lora_A.default.weight", ".lora_A.weight").Replace(".lora_B.default.weight", ".lora_B.weight");
        StrictLoad.Into(reader, NamedParameters().ToDictionary(p => p.Key, p => (Tensor)p.Param),
            "adapter does not fit this model", "Was it trained on this base model?", keyOf: Norm);
    }

    /// <summary>W ← W + weight·B·A·scaling in the base weight's dtype, then removes the adapters.</summary>
    public void MergeIntoBase(double weight = 1.0)
    {
        using (torch.no_grad())
            foreach (var (_, lin, a) in _items)
            {
                using var delta = weight == 1.0 ? a.DeltaWeight() : a.DeltaWeight().mul_(weight);
                using var merged = lin.weight.to(ScalarType.Float32).add_(delta);
                lin.weight.copy_(merged);
            }
        Detach();
    }

    /// <summary>Removes the adapters from the layers (their tensors stay valid until Dispose).</summary>
    public void Detach()
    {
        foreach (var (_, lin, a) in _items) if (ReferenceEquals(lin.Lora, a)) lin.Lora = null;
    }

    public bool Enabled
    {
        set { foreach (var (_, _, a) in _items) a.Enabled = value; }
    }

    public void Dispose()
    {
        Detach();
        foreach (var (_, _, a) in _items) a.Dispose();
        _items.Clear();
    }
}
