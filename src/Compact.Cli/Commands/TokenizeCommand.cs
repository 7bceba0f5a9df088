using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.Training;

namespace Compact.Cli.Commands;

public static class TokenizeCommand
{
    static readonly Option<string> Model = Shared.Model();
    static readonly Option<string?> Text = new("--text") { Description = "Text to tokenize." };
    static readonly Option<string?> File_ = new("--file") { Description = "File whose contents to tokenize." };
    static readonly Option<bool> Special = new("--add-special-tokens") { Description = "Add the tokens the tokenizer's post-processor adds (e.g. Llama 3's <|begin_of_text|>)." };

    public static Command Create()
    {
        var c = new Command("tokenize", "Show the token ids and pieces of a text.") { Model, Text, File_, Special, Shared.Json };
        c.SetAction(p => Run(p.GetValue(Model)!, p.GetValue(Text), p.GetValue(File_), p.GetValue(Special), p.GetValue(Shared.Json), p.InvocationConfiguration.Output));
        return c;
    }

    public static int Run(string model, string? text, string? file, bool special, bool json, TextWriter output)
    {
        if ((text is null) == (file is null)) throw new CompactException("give exactly one of --text or --file.");
        var s = text ?? (File.Exists(file) ? File.ReadAllText(file!) : throw new CompactException($"--file {file}: file not found."));
        var tok = Student.LoadTokenizer(model);
        var ids = tok.Encode(s, special);
        var pieces = tok.DecodePieces(ids);
        if (json)
        {
            var o = new JsonObject
            {
                ["ids"] = new JsonArray(ids.Select(i => (JsonNode)i).ToArray()),
                ["pieces"] = new JsonArray(pieces.Select(p => (JsonNode)p).ToArray()),
                ["count"] = ids.Count,
            };
            output.WriteLine(o.ToJsonString(Compact.Util.Jsonl.Options));
            return 0;
        }
        output.WriteLine($"{ids.Count} tokens");
        output.WriteLine(string.Join(" ", ids));
        output.WriteLine(string.Join(" | ", pieces.Select(p => JsonSerializer.Serialize(p))));
        return 0;
    }
}
