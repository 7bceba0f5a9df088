using System.CommandLine;
using Compact.Generation;
using Compact.Models;
using Compact.Serving;

namespace Compact.Cli.Commands;

public static class ServeCommand
{
    static readonly Option<string> Model = Shared.Model();
    static readonly Option<string> Host = new("--host") { Description = "Address to bind (127.0.0.1: this machine only).", DefaultValueFactory = _ => "127.0.0.1" };
    static readonly Option<int> Port = new("--port") { Description = "Port to listen on (0: any free port).", DefaultValueFactory = _ => 8000 };
    static readonly Option<string?> ApiKey = new("--api-key") { Description = "Require `Authorization: Bearer KEY` (default: $COMPACT_API_KEY if set, else no key)." };
    static readonly Option<string?> Name = new("--served-name") { Description = "Model id in /v1/models and responses (default: the folder name)." };
    static readonly Option<int> MaxQueue = new("--max-queue") { Description = "Requests that may wait for the model; more get 503.", DefaultValueFactory = _ => 16 };
    static readonly Option<int> MaxTokens = new("--max-tokens-limit") { Description = "Largest max_tokens a request may ask for.", DefaultValueFactory = _ => 2048 };
    static readonly Option<bool> EscapeSpecial = new("--escape-special-in-content")
    {
        Description = "Encode message text with special tokens as plain text, so a user typing <|im_end|> cannot close a turn. "
            + "Off by default: like Hugging Face's chat templates, control tokens written in messages are real control tokens.",
    };

    public static Command Create()
    {
        var c = new Command("serve", "Serve a model (optionally with a LoRA adapter) over an OpenAI-compatible HTTP API.")
        {
            Model, Shared.Adapter, Host, Port, ApiKey, Name, MaxQueue, MaxTokens, EscapeSpecial, Shared.Device, Shared.DType,
        };
        c.SetAction((p, ct) => Run(p, p.InvocationConfiguration.Output, ct));
        return c;
    }

    public static async Task<int> Run(ParseResult p, TextWriter output, CancellationToken ct)
    {
        Devices.ConfigureThreads();
        using var m = LoadedModel.Load(p.GetValue(Model)!, p.GetValue(Shared.Adapter), p.GetValue(Shared.Device)!, p.GetValue(Shared.DType)!);
        var o = new ServerOptions
        {
            Host = p.GetValue(Host)!, Port = p.GetValue(Port), ApiKey = p.GetValue(ApiKey) ?? Environment.GetEnvironmentVariable("COMPACT_API_KEY"),
            MaxQueue = p.GetValue(MaxQueue), MaxTokensLimit = p.GetValue(MaxTokens),
            Log = line => { lock (output) { output.WriteLine(line); output.Flush(); } },
        };
        await using var server = new OpenAiServer(new ModelBackend(m, p.GetValue(Name), p.GetValue(EscapeSpecial)), o);
        try { await server.StartAsync(); }
        catch (IOException e) { throw new CompactException($"cannot listen on {o.Host}:{o.Port} ({e.Message}); choose another --port.", e); }
        output.WriteLine($"Serving {server.Backend.ModelId} at {server.BaseAddress}v1 (chat/completions, completions, models; /health){(p.GetValue(EscapeSpecial) ? "; special tokens in messages are read as text" : "")}. Ctrl-C stops.");
        output.Flush();
        try { await server.WaitForShutdownAsync(ct); } catch (OperationCanceledException) { }
        return 0;
    }
}
