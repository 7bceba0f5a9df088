using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Compact.Distill;
using Compact.IO;
using Compact.Models;
using Compact.Tests.Training;
using Compact.Tokenization;
using Compact.Training;

namespace Compact.Tests.Robustness;

/// <summary>A bounded fuzz of the loaders (fixed seed, a fixed number of cases, each loader capped at a few
/// seconds): mutated config.json, tokenizer.json, safetensors headers and dataset lines may load or be refused
/// with a CompactException; any other exception is a bug and fails the test with the input that caused it.</summary>
public class LoaderFuzzTests
{
    const int Cases = 250;
    static readonly TimeSpan Budget = TimeSpan.FromSeconds(4);

    static readonly string[] Replacements =
    [
        "null", "-1", "0", "1", "0.5", "1e308", "-1e308", "9223372036854775807", "400000000", "\"\"", "\"x\"", "true",
        "[]", "[null]", "[1, -1]", "{}", "{\"a\": null}", "\"\\u0000\"", "NaN",
    ];

    /// <summary>One mutation of a JSON text: a value replaced (structure-aware), a key dropped, or bytes damaged.</summary>
    static string Mutate(string json, Random rng)
    {
        switch (rng.Next(4))
        {
            case 0:
            case 1:
            {
                var root = JsonNode.Parse(json)!;
                var nodes = new List<(JsonNode Parent, object Key)>();
                void Walk(JsonNode n, int depth)
                {
                    if (depth > 6) return;
                    if (n is JsonObject o) foreach (var (k, v) in o.ToList()) { nodes.Add((o, k)); if (v is not null) Walk(v, depth + 1); }
                    else if (n is JsonArray a) for (int i = 0; i < Math.Min(a.Count, 8); i++) { nodes.Add((a, i)); if (a[i] is { } c) Walk(c, depth + 1); }
                }
                Walk(root, 0);
                if (nodes.Count == 0) return json;
                var (parent, key) = nodes[rng.Next(nodes.Count)];
                var rep = Replacements[rng.Next(Replacements.Length)];
                JsonNode? value = rep == "NaN" ? null : JsonNode.Parse(rep);
                if (parent is JsonObject po)
                {
                    if (rng.Next(4) == 0) po.Remove((string)key);
                    else po[(string)key] = value;
                }
                else ((JsonArray)parent)[(int)key] = value;
                var text = root.ToJsonString();
                return rep == "NaN" ? text.Replace("null", "NaN") : text;
            }
            case 2:
                return json[..rng.Next(json.Length)];                                    // truncated
            default:
            {
                var b = Encoding.UTF8.GetBytes(json);
                for (int i = 0, n = 1 + rng.Next(4); i < n; i++) b[rng.Next(b.Length)] = (byte)rng.Next(256);
                return Encoding.UTF8.GetString(b);
            }
        }
    }

    static void Fuzz(string what, string seedText, Action<string> load, int seed)
    {
        var rng = new Random(seed);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < Cases && sw.Elapsed < Budget; i++)
        {
            var input = Mutate(seedText, rng);
            try { load(input); }
            catch (CompactException) { }
            catch (Exception e)
            {
                Assert.Fail($"{what} case {i}: {e.GetType().Name}: {e.Message}\ninput: {(input.Length > 600 ? input[..600] + "…" : input)}");
            }
        }
    }

    [Fact]
    public void Mutated_config_json_loads_or_is_refused_cleanly()
    {
        var seed = Presets.Get("qwen2-tiny").Make(96).ToJson();
        seed["rope_scaling"] = new JsonObject { ["rope_type"] = "llama3", ["factor"] = 8.0 };
        seed["eos_token_id"] = new JsonArray(1, 2);
        Fuzz("config.json", seed.ToJsonString(), s => ModelConfig.Parse(s, "config.json"), 11);
    }

    [Fact]
    public void Mutated_safetensors_headers_load_or_are_refused_cleanly()
    {
        var header = new JsonObject
        {
            ["__metadata__"] = new JsonObject { ["format"] = "pt" },
            ["a"] = new JsonObject { ["dtype"] = "F32", ["shape"] = new JsonArray(2, 3), ["data_offsets"] = new JsonArray(0, 24) },
            ["b"] = new JsonObject { ["dtype"] = "BF16", ["shape"] = new JsonArray(4), ["data_offsets"] = new JsonArray(24, 32) },
        };
        Fuzz("safetensors header", header.ToJsonString(), s => SafeTensorsFile.ParseHeader("x.safetensors", Encoding.UTF8.GetBytes(s), 32), 12);
    }

    [Fact]
    public void Mutated_tokenizer_json_and_dataset_lines_load_or_are_refused_cleanly()
    {
        using var dir = new TestUtil.TempDir();
        var model = SftTests.TinyModel(dir);
        var tokJson = File.ReadAllText(Path.Combine(model, "tokenizer.json"));
        var fuzzDir = dir["tok"];
        Directory.CreateDirectory(fuzzDir);
        File.Copy(Path.Combine(model, "tokenizer_config.json"), Path.Combine(fuzzDir, "tokenizer_config.json"));
        Fuzz("tokenizer.json", tokJson, s =>
        {
            File.WriteAllText(Path.Combine(fuzzDir, "tokenizer.json"), s);
            var tok = Student.LoadTokenizer(fuzzDir);
            tok.Decode(tok.Encode("Hello 12+3=15."));
        }, 13);

        var chat = ChatFormat.For(Student.LoadTokenizer(model));
        var sftLine = new JsonObject { ["question"] = "1+2?", ["target"] = "1+2=3. The answer is 3.", ["system"] = "Be brief." }.ToJsonString();
        var data = dir["d.jsonl"];
        Fuzz("sft line", sftLine, s =>
        {
            File.WriteAllText(data, sftLine + "\n" + s.Replace('\n', ' ') + "\n");
            SftData.Load(data, chat, 256, TruncationMode.TruncateStart, skipBad: false);
        }, 14);

        var mtLine = new JsonObject
        {
            ["id"] = "q1", ["question"] = "1+2?", ["answer"] = "3", ["choices"] = new JsonArray("3", "4"),
            ["rationales"] = new JsonArray(new JsonObject { ["teacher"] = "a", ["text"] = "1+2=3." }, new JsonObject { ["teacher"] = "b", ["text"] = "3." }),
        }.ToJsonString();
        Fuzz("multi-teacher line", mtLine, s =>
        {
            File.WriteAllText(data, s.Replace('\n', ' ') + "\n");
            MultiTeacherData.Load(data);
        }, 15);
    }
}
