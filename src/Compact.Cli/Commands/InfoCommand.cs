using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.IO;
using Compact.Models;
using Compact.Tokenization;
using Compact.Training;

namespace Compact.Cli.Commands;

public static class InfoCommand
{
    static readonly Option<string> Model = Shared.Model();

    public static Command Create()
    {
        var c = new Command("info", "Describe a model folder: architecture, parameters, dtype, vocabulary, context, chat format.") { Model, Shared.Adapter, Shared.Json };
        c.SetAction(p => Run(p.GetValue(Model)!, p.GetValue(Shared.Adapter), p.GetValue(Shared.Json), p.InvocationConfiguration.Output));
        return c;
    }

    public static int Run(string modelDir, string? adapter, bool json, TextWriter output)
    {
        var cfg = ModelConfig.Load(modelDir);
        var tok = Student.LoadTokenizer(modelDir);
        string chat;
        try { chat = ChatTemplateInfo.Detect(tok.ChatTemplate).Style.ToString(); }
        catch (InvalidDataException e) { chat = $"unsupported ({e.Message})"; }
        long bytes;
        int tensors;
        using (var r = CheckpointReader.Open(modelDir))
        {
            WeightChecks.RequireConsistent(cfg, r);
            tensors = r.Names.Count;
            bytes = r.Names.Sum(n => r.Entry(n).ByteLength);
        }
        var info = new JsonObject
        {
            ["path"] = Path.GetFullPath(modelDir),
            ["architecture"] = cfg.Architecture,
            ["parameters"] = cfg.ParameterCount(),
            ["dtype"] = cfg.TorchDtype,
            ["weights_bytes"] = bytes,
            ["tensors"] = tensors,
            ["layers"] = cfg.NumLayers,
            ["hidden_size"] = cfg.HiddenSize,
            ["intermediate_size"] = cfg.IntermediateSize,
            ["attention_heads"] = cfg.NumHeads,
            ["kv_heads"] = cfg.NumKvHeads,
            ["head_dim"] = cfg.HeadDim,
            ["vocab_size"] = cfg.VocabSize,
            ["tokenizer_vocab"] = tok.VocabSize,
            ["context"] = cfg.MaxPositionEmbeddings,
            ["rope_theta"] = cfg.RopeTheta,
            ["rope_scaling"] = cfg.RopeScaling?.Type ?? "none",
            ["tied_embeddings"] = cfg.TieWordEmbeddings,
            ["qkv_bias"] = cfg.QkvBias,
            ["qk_norm"] = cfg.QkNorm,
            ["attention"] = cfg.HasSlidingLayers
                ? $"{cfg.LayerTypes.Count(k => k == LayerKind.SlidingAttention)} sliding-window layers (window {cfg.SlidingWindow}), {cfg.LayerTypes.Count(k => k == LayerKind.FullAttention)} full"
                : "full",
            ["activation"] = cfg.HiddenAct,
            ["chat_format"] = chat,
            ["bos"] = tok.BosToken,
            ["eos"] = tok.EosToken,
        };
        if (adapter is not null)
        {
            var lc = LoraAdapters.ReadConfig(adapter);
            info["adapter"] = new JsonObject { ["path"] = Path.GetFullPath(adapter), ["r"] = lc.Rank, ["alpha"] = lc.Alpha, ["targets"] = string.Join(",", lc.TargetModules) };
        }
        if (json) { output.WriteLine(info.ToJsonString(Compact.Util.Jsonl.Indented)); return 0; }
        int w = info.Max(kv => kv.Key.Length);
        foreach (var (k, v) in info)
        {
            var text = v switch
            {
                null => "-",
                JsonValue jv when k == "parameters" => $"{jv.GetValue<long>():N0} ({jv.GetValue<long>() / 1e6:0.##}M)",
                JsonValue jv when k == "weights_bytes" => $"{jv.GetValue<long>() / 1048576.0:0.#} MiB",
                JsonValue jv => jv.ToString(),
                _ => v.ToJsonString(),
            };
            output.WriteLine($"{k.PadRight(w)}  {text}");
        }
        return 0;
    }
}
