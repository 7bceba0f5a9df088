using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.Generation;
using Compact.IO;
using Compact.Util;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Analysis;

/// <summary>One layer's shift of a tuned model from the base. Shift = ‖Vₖ(μ_tuned − μ_base)‖: the distance between the
/// two centroids after projecting both on the base's top-k principal components (the paper's PCA shift); RelativeShift =
/// Shift / √(Σ variance of the k components), the shift in units of the base's own spread there; CentroidDistance =
/// ‖μ_tuned − μ_base‖ in the full D-dimensional space.</summary>
public sealed record LayerShift(int Layer, double Shift, double RelativeShift, double CentroidDistance);

/// <summary>The base model's principal components at every layer, against which tuned models are measured.</summary>
public sealed class ShiftBasis : IDisposable
{
    public IReadOnlyList<Pca> Layers { get; }

    ShiftBasis(IReadOnlyList<Pca> layers) { Layers = layers; }

    /// <summary>baseStates: per layer (N, D), from <see cref="LayerStates.Collect"/>.</summary>
    public static ShiftBasis Fit(IReadOnlyList<Tensor> baseStates, int k) => new(baseStates.Select(s => Pca.Fit(s, k)).ToList());

    /// <summary>Shift of the tuned states (per layer (N', D); the prompts need not be the same count) at every layer.</summary>
    public LayerShift[] Measure(IReadOnlyList<Tensor> tunedStates)
    {
        if (tunedStates.Count != Layers.Count)
            throw new CompactException($"the tuned model has {tunedStates.Count - 1} layers, the base {Layers.Count - 1}; PCA shift compares the same architecture.");
        var res = new LayerShift[Layers.Count];
        for (int l = 0; l < Layers.Count; l++)
        {
            using var scope = NewDisposeScope();
            var pca = Layers[l];
            if (tunedStates[l].shape[1] != pca.Mean.shape[0])
                throw new CompactException($"layer {l}: tuned width {tunedStates[l].shape[1]} differs from the base's {pca.Mean.shape[0]}.");
            var mu = tunedStates[l].to(ScalarType.Float64, torch.CPU).mean([0]);              // (D)
            double shift = pca.Project(mu).norm().item<double>();                            // ‖Vₖ(μ_t − μ_b)‖
            double dist = mu.sub(pca.Mean).norm().item<double>();
            double spread = Math.Sqrt(pca.Variance.Sum());
            res[l] = new LayerShift(l, shift, spread > 0 ? shift / spread : 0, dist);
        }
        return res;
    }

    public void Dispose() { foreach (var p in Layers) p.Dispose(); }
}

public sealed record ShiftOptions
{
    public required string BaseDir { get; init; }
    /// <summary>--tuned entries (see <see cref="ModelSpec.Resolve"/>).</summary>
    public required IReadOnlyList<string> Tuned { get; init; }
    public required string PromptsPath { get; init; }
    public required string OutDir { get; init; }
    public int Components { get; init; } = 10;
    public Pooling Pooling { get; init; } = Pooling.Mean;
    /// <summary>Wrap each prompt in the model's chat template as a user turn (false: plain text with BOS).</summary>
    public bool Chat { get; init; } = true;
    public string? System { get; init; }
    public int? Limit { get; init; }
    /// <summary>Prompts longer than this keep their first MaxTokens tokens.</summary>
    public int MaxTokens { get; init; } = 1024;
    public int BatchSize { get; init; } = 8;
    /// <summary>Layers to draw the first-two-components scatter for (default: the middle and the last).</summary>
    public IReadOnlyList<int>? ScatterLayers { get; init; }
    public string Device { get; init; } = "cpu";
    public string DType { get; init; } = "float32";
}

public sealed record TunedShift(ModelSpec Model, LayerShift[] Layers);

/// <summary>Points of one layer on the base's first two components, for the scatter plot.</summary>
public sealed record ScatterLayer(int Layer, double[] Ratio, (double[] X, double[] Y) Base, List<(string Name, double[] X, double[] Y)> Tuned);

public sealed record ShiftResult(ModelSpec Base, string PromptsPath, int Prompts, int Components, Pooling Pooling, bool Chat,
    double[][] ExplainedRatio, List<TunedShift> Tuned, List<ScatterLayer> Scatter);

/// <summary>`compact analyze shift`: per-layer PCA shift of tuned models from their base (the paper's forgetting
/// measure). The base's pooled states at each layer define the principal components; each tuned model runs the same
/// prompts; models are loaded one at a time.</summary>
public static class PcaShift
{
    public const string JsonFile = "shift.json", CsvFile = "shift.csv", PlotFile = "shift.png";

    public static ShiftResult Run(ShiftOptions o, TextWriter output, ProgressHost progress, CancellationToken ct = default)
    {
        if (o.Tuned.Count == 0) throw new CompactException("give at least one --tuned model.");
        if (o.Components < 1) throw new CompactException("--components must be at least 1.");
        var prompts = Prompts.Load(o.PromptsPath, o.Limit);
        if (prompts.Count < 2) throw new CompactException($"{o.PromptsPath}: PCA needs at least 2 prompts, found {prompts.Count}.");
        if (!File.Exists(Path.Combine(o.BaseDir, "config.json"))) throw new CompactException($"--base {o.BaseDir}: no config.json there.");
        var baseSpec = new ModelSpec(ModelSpec.NameOf(o.BaseDir), o.BaseDir, null);
        var tuned = ModelSpec.Unique(o.Tuned.Select(t => ModelSpec.Resolve(t, o.BaseDir)));

        // The base's states define the components; only the components and the scatter coordinates are kept.
        var baseStates = States(baseSpec, prompts, o, output, progress, ct);
        ShiftBasis basis;
        List<ScatterLayer> scatter;
        try
        {
            basis = ShiftBasis.Fit(baseStates, o.Components);
            int layers = baseStates.Length;
            var scatterLayers = (o.ScatterLayers ?? [layers / 2, layers - 1]).Distinct().ToList();
            foreach (var l in scatterLayers)
                if (l < 0 || l >= layers) { basis.Dispose(); throw new CompactException($"--scatter-layers {l}: the model has layers 0 (embeddings) to {layers - 1}."); }
            scatter = basis.Layers.Min(p => p.K) < 2 ? [] : scatterLayers.Select(l =>
            {
                var (x, y) = TwoComponents(basis.Layers[l], baseStates[l]);
                return new ScatterLayer(l, basis.Layers[l].ExplainedRatio.Take(2).ToArray(), (x, y), []);
            }).ToList();
        }
        finally { foreach (var t in baseStates) t.Dispose(); }

        using (basis)
        {
            var results = new List<TunedShift>();
            foreach (var spec in tuned)
            {
                var st = States(spec, prompts, o, output, progress, ct);
                try
                {
                    results.Add(new TunedShift(spec, basis.Measure(st)));
                    foreach (var sl in scatter) { var (x, y) = TwoComponents(basis.Layers[sl.Layer], st[sl.Layer]); sl.Tuned.Add((spec.Name, x, y)); }
                }
                finally { foreach (var t in st) t.Dispose(); }
            }
            var result = new ShiftResult(baseSpec, o.PromptsPath, prompts.Count, basis.Layers.Min(p => p.K), o.Pooling, o.Chat,
                basis.Layers.Select(p => p.ExplainedRatio).ToArray(), results, scatter);
            Write(o.OutDir, result);
            return result;
        }
    }

    static Tensor[] States(ModelSpec spec, List<string> prompts, ShiftOptions o, TextWriter output, ProgressHost progress,
        CancellationToken ct)
    {
        using var m = LoadedModel.Load(spec.ModelDir, spec.AdapterDir, o.Device, o.DType);
        int truncated = 0;
        var ids = prompts.Select(p =>
        {
            var e = o.Chat ? m.Chat.EncodePrompt(o.System, p) : m.Tokenizer.Encode(p, addSpecialTokens: true);
            if (e.Count <= o.MaxTokens) return e;
            truncated++;
            return e.Take(o.MaxTokens).ToList();
        }).ToList();
        var states = progress.Run($"states of {spec.Name}", prompts.Count, task =>
            LayerStates.Collect(m.Model, ids, o.Pooling, m.Tokenizer.PadId, o.BatchSize, n => task.Increment(n), ct));
        output.WriteLine($"{spec.Name} ({spec}): {prompts.Count} prompts, {states.Length - 1} layers"
            + (truncated > 0 ? $", {truncated} prompts cut to --max-tokens {o.MaxTokens}" : ""));
        return states;
    }

    static (double[] X, double[] Y) TwoComponents(Pca pca, Tensor states)
    {
        using var p = pca.Project(states);                                                   // (N, k)
        using var x = p.select(1, 0).contiguous();
        using var y = p.select(1, 1).contiguous();
        return (x.data<double>().ToArray(), y.data<double>().ToArray());
    }

    static double R(double v) => Math.Round(v, 8);

    public static JsonObject ToJson(ShiftResult r) => new()
    {
        ["base"] = Path.GetFullPath(r.Base.ModelDir),
        ["prompts_file"] = Path.GetFullPath(r.PromptsPath),
        ["prompts"] = r.Prompts,
        ["pooling"] = r.Pooling.ToString().ToLowerInvariant(),
        ["chat"] = r.Chat,
        ["components"] = r.Components,
        ["layers"] = r.ExplainedRatio.Length,
        ["layer_0"] = "embeddings; layer l = output of decoder layer l (before the final norm)",
        ["base_explained_variance_ratio"] = new JsonArray(r.ExplainedRatio.Select(e => (JsonNode)new JsonArray(e.Select(x => (JsonNode)R(x)).ToArray())).ToArray()),
        ["tuned"] = new JsonArray(r.Tuned.Select(t => (JsonNode)new JsonObject
        {
            ["name"] = t.Model.Name,
            ["model"] = Path.GetFullPath(t.Model.ModelDir),
            ["adapter"] = t.Model.AdapterDir is null ? null : Path.GetFullPath(t.Model.AdapterDir),
            ["layers"] = new JsonArray(t.Layers.Select(s => (JsonNode)new JsonObject
            {
                ["layer"] = s.Layer, ["shift"] = R(s.Shift), ["shift_rel"] = R(s.RelativeShift), ["centroid_distance"] = R(s.CentroidDistance),
            }).ToArray()),
        }).ToArray()),
    };

    public static string[] CsvHeaders => ["tuned", "layer", "shift", "shift_rel", "centroid_distance"];

    public static IEnumerable<string[]> CsvRows(ShiftResult r) => r.Tuned.SelectMany(t => t.Layers.Select(s => new[]
    {
        t.Model.Name, s.Layer.ToString(CultureInfo.InvariantCulture), F(s.Shift), F(s.RelativeShift), F(s.CentroidDistance),
    }));

    static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    /// <summary>shift.json, shift.csv, shift.png (shift per layer, one line per tuned model), pca_layerL.png.</summary>
    public static void Write(string outDir, ShiftResult r)
    {
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteAllText(Path.Combine(outDir, JsonFile), ToJson(r).ToJsonString(Compact.Util.Jsonl.Indented));
        AtomicFile.WriteAllText(Path.Combine(outDir, CsvFile), Tables.Csv(CsvHeaders, CsvRows(r)));
        Plots.Lines(Path.Combine(outDir, PlotFile), $"PCA shift from {r.Base.Name} ({r.Components} components, {r.Prompts} prompts, {r.Pooling.ToString().ToLowerInvariant()} pooling)",
            "layer (0 = embeddings)", "‖Vₖ(μ tuned − μ base)‖",
            r.Tuned.Select(t => new Plots.Series(t.Model.Name, t.Layers.Select(s => (double)s.Layer).ToList(), t.Layers.Select(s => s.Shift).ToList(), Markers: true)), integerX: true);
        foreach (var s in r.Scatter)
        {
            var groups = new List<Plots.Series> { new(r.Base.Name == "base" ? "base" : $"{r.Base.Name} (base)", s.Base.X, s.Base.Y) };
            groups.AddRange(s.Tuned.Select(t => new Plots.Series(t.Name, t.X, t.Y)));
            Plots.Scatter(Path.Combine(outDir, $"pca_layer{s.Layer}.png"), $"Layer {s.Layer} on {r.Base.Name}'s first two principal components (diamonds: centroids)",
                $"PC1 ({s.Ratio[0]:P1} of variance)", $"PC2 ({s.Ratio[1]:P1} of variance)", groups, centroids: true);
        }
    }

    /// <summary>Rows of the console table: one per layer, the shift of each tuned model.</summary>
    public static (string[] Headers, List<string[]> Rows) Table(ShiftResult r)
    {
        var headers = new[] { "layer" }.Concat(r.Tuned.Select(t => t.Model.Name)).ToArray();
        var rows = Enumerable.Range(0, r.ExplainedRatio.Length).Select(l => new[] { l == 0 ? "0 (emb)" : l.ToString(CultureInfo.InvariantCulture) }
            .Concat(r.Tuned.Select(t => $"{t.Layers[l].Shift:0.0000} ({t.Layers[l].RelativeShift:0.000})")).ToArray()).ToList();
        return (headers, rows);
    }
}
