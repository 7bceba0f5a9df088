using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Compact.Generation;
using Compact.Serving;
using Compact.Tests.Training;

namespace Compact.Tests.Serving;

public class ServeTests
{
    static StringContent Json(string s) => new(s, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Serves_a_tiny_model_over_the_OpenAI_protocol_with_streaming_and_validation()
    {
        using var dir = new TestUtil.TempDir();
        var modelDir = SftTests.TinyModel(dir);
        using var model = LoadedModel.Load(modelDir);
        await using var server = new OpenAiServer(new ModelBackend(model, "tiny"), new ServerOptions { Port = 0, MaxTokensLimit = 64, MaxBodyBytes = 4096 });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        var health = await http.GetFromJsonAsync<JsonObject>("health");
        Assert.Equal("ok", health!["status"]!.GetValue<string>());
        var models = await http.GetFromJsonAsync<JsonObject>("v1/models");
        Assert.Equal("tiny", models!["data"]![0]!["id"]!.GetValue<string>());

        const string req = """{"model":"tiny","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is 2+3?"}],"max_tokens":12,"temperature":0}""";
        var r = await http.PostAsync("v1/chat/completions", Json(req));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var body = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        var text = body["choices"]![0]!["message"]!["content"]!.GetValue<string>();
        Assert.Equal("chat.completion", body["object"]!.GetValue<string>());
        Assert.True(body["usage"]!["completion_tokens"]!.GetValue<int>() is > 0 and <= 12);

        // Streaming gives the same text, in pieces, then [DONE].
        var sr = await http.PostAsync("v1/chat/completions", Json(req.Replace("\"temperature\":0", "\"temperature\":0,\"stream\":true")));
        var sse = await sr.Content.ReadAsStringAsync();
        Assert.StartsWith("text/event-stream", sr.Content.Headers.ContentType!.ToString());
        var chunks = sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(l => l["data: ".Length..]).ToList();
        Assert.Equal("[DONE]", chunks[^1]);
        var streamed = string.Concat(chunks.SkipLast(1).Select(c => JsonNode.Parse(c)!["choices"]![0]!["delta"]!["content"]?.GetValue<string>() ?? ""));
        Assert.Equal(text, streamed);

        var comp = await http.PostAsync("v1/completions", Json("""{"prompt":"Hello","max_tokens":4,"temperature":0}"""));
        Assert.Equal(HttpStatusCode.OK, comp.StatusCode);
        Assert.Equal("text_completion", JsonNode.Parse(await comp.Content.ReadAsStringAsync())!["object"]!.GetValue<string>());

        async Task Bad(string json, int status, string expect)
        {
            var x = await http.PostAsync("v1/chat/completions", Json(json));
            Assert.Equal(status, (int)x.StatusCode);
            Assert.Contains(expect, await x.Content.ReadAsStringAsync());
        }
        await Bad("{not json", 400, "not valid JSON");
        await Bad("""{"messages":[]}""", 400, "non-empty list");
        await Bad("""{"messages":[{"role":"wizard","content":"x"}]}""", 400, "system, developer, user or assistant");
        await Bad("""{"messages":[{"role":"user","content":"x"}],"max_tokens":0}""", 400, "positive integer");
        await Bad("""{"messages":[{"role":"user","content":"x"}],"max_tokens":1000}""", 400, "limit of 64");
        await Bad("""{"messages":[{"role":"user","content":"x"}],"temperature":7}""", 400, "temperature");
        await Bad("""{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}""", 404, "is not served here");
        await Bad("""{"messages":[{"role":"user","content":"x"}],"n":30}""", 400, "limit of 8");
        await Bad("{\"messages\":[{\"role\":\"user\",\"content\":\"" + new string('x', 5000) + "\"}]}", 413, "bytes");
    }

    [Fact]
    public async Task Api_key_is_required_when_set()
    {
        await using var server = new OpenAiServer(new ScriptedBackend("s", q => "ok"), new ServerOptions { Port = 0, ApiKey = "sekret" });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("health")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("v1/models")).StatusCode);
        http.DefaultRequestHeaders.Authorization = new("Bearer", "sekret");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("v1/models")).StatusCode);
    }

    [Fact]
    public async Task Under_load_every_request_gets_an_answer_or_503_and_the_server_stays_up()
    {
        var backend = new ScriptedBackend("slow", q => $"echo {q}", TimeSpan.FromMilliseconds(40));
        await using var server = new OpenAiServer(backend, new ServerOptions { Port = 0, MaxQueue = 3 });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        long before = GC.GetTotalMemory(true);
        var sw = Stopwatch.StartNew();
        var results = await Task.WhenAll(Enumerable.Range(0, 60).Select(async i =>
        {
            var r = await http.PostAsync("v1/chat/completions", Json($$"""{"messages":[{"role":"user","content":"q{{i}}"}]}"""));
            var s = await r.Content.ReadAsStringAsync();
            if (r.StatusCode == HttpStatusCode.OK) Assert.Equal($"echo q{i}", JsonNode.Parse(s)!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
            else { Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode); Assert.NotNull(r.Headers.RetryAfter); }
            return r.StatusCode;
        }));
        Assert.Contains(HttpStatusCode.OK, results);
        Assert.Contains(HttpStatusCode.ServiceUnavailable, results);             // the queue bound was hit
        Assert.Equal(results.Count(x => x == HttpStatusCode.OK), backend.Calls);  // rejected requests never reached the model
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("health")).StatusCode);
        Assert.True(GC.GetTotalMemory(true) - before < 50 << 20, "managed memory grew by more than 50 MB");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task The_compact_serve_command_answers_an_OpenAI_client()
    {
        using var dir = new TestUtil.TempDir();
        var modelDir = SftTests.TinyModel(dir);
        var exe = Path.Combine(AppContext.BaseDirectory, "compact.dll");
        var psi = new ProcessStartInfo("dotnet", $"\"{exe}\" serve --model \"{modelDir}\" --port 0 --served-name tiny")
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var proc = Process.Start(psi)!;
        try
        {
            var line = await proc.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.NotNull(line);
            var url = line!.Split(' ').First(w => w.StartsWith("http://", StringComparison.Ordinal));
            var client = new OpenAI.Chat.ChatClient("tiny", new System.ClientModel.ApiKeyCredential("none"), new OpenAI.OpenAIClientOptions { Endpoint = new Uri(url) });
            var done = await client.CompleteChatAsync([new OpenAI.Chat.UserChatMessage("Hi")], new OpenAI.Chat.ChatCompletionOptions { MaxOutputTokenCount = 5, Temperature = 0 });
            Assert.Equal("tiny", done.Value.Model);
            Assert.True(done.Value.Usage.OutputTokenCount is > 0 and <= 5);
        }
        finally { proc.Kill(entireProcessTree: true); }
    }
}
