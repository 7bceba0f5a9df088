using System.CommandLine;
using System.Text.Json.Nodes;
using Compact.Generation;
using Compact.Models;

namespace Compact.Cli.Commands;

public static class GenerateCommand
{
    static readonly Option<string> Model = Shared.Model();
    static readonly Option<string> Prompt = new("--prompt") { Description = "The prompt text (with --chat: the user message).", Required = true };
    static readonly Option<bool> Chat = new("--chat") { Description = "Format the prompt with the model's chat template and generate the assistant turn." };
    static readonly Option<string?> System_ = new("--system") { Description = "System message (with --chat)." };
    static readonly Option<int> MaxNew = new("--max-new-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 128 };
    static readonly Option<double> Temperature = new("--temperature") { Description = "Sampling temperature; 0 is greedy.", DefaultValueFactory = _ => 0.0 };
    static readonly Option<double> TopP = new("--top-p") { Description = "Nucleus sampling threshold.", DefaultValueFactory = _ => 1.0 };

    public static Command Create()
    {
        var c = new Command("generate", "Generate text from a prompt (greedy at temperature 0).")
        {
            Model, Shared.Adapter, Prompt, Chat, System_, MaxNew, Temperature, TopP, Shared.Seed, Shared.Json, Shared.Device, Shared.DType,
        };
        c.SetAction(p => Run(new Args(p.GetValue(Model)!, p.GetValue(Shared.Adapter), p.GetValue(Prompt)!, p.GetValue(Chat), p.GetValue(System_),
            p.GetValue(MaxNew), p.GetValue(Temperature), p.GetValue(TopP), p.GetValue(Shared.Seed), p.GetValue(Shared.Json),
            p.GetValue(Shared.Device)!, p.GetValue(Shared.DType)!), p.InvocationConfiguration.Output));
        return c;
    }

    public sealed record Args(string Model, string? Adapter, string Prompt, bool Chat, string? System, int MaxNewTokens, double Temperature,
        double TopP, long Seed, bool Json, string Device, string DType);

    public static int Run(Args a, TextWriter output)
    {
        if (a.MaxNewTokens < 1) throw new CompactException("--max-new-tokens must be at least 1.");
        Devices.ConfigureThreads();
        using var m = LoadedModel.Load(a.Model, a.Adapter, a.Device, a.DType);
        var prompt = a.Chat ? m.Chat.EncodePrompt(a.System, a.Prompt) : m.Tokenizer.Encode(a.Prompt, addSpecialTokens: true);
        var r = m.Generate([prompt], new GenerationOptions { MaxNewTokens = a.MaxNewTokens, Temperature = a.Temperature, TopP = a.TopP, Seed = a.Seed })[0];
        if (a.Json)
        {
            output.WriteLine(new JsonObject
            {
                ["prompt_ids"] = new JsonArray(r.PromptIds.Select(x => (JsonNode)x).ToArray()),
                ["generated_ids"] = new JsonArray(r.NewIds.Select(x => (JsonNode)x).ToArray()),
                ["text"] = r.Text,
                ["finish_reason"] = r.FinishReason,
            }.ToJsonString(Compact.Util.Jsonl.Options));
        }
        else output.WriteLine(r.Text);
        return 0;
    }
}
