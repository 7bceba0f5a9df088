using System.Text.Json.Nodes;
using Compact.Tokenization;

namespace Compact.Tests.Tokenization;

/// <summary>ChatFormat against transformers 5.17's apply_chat_template on the real Qwen3, Llama 3 and Gemma 3
/// templates (Fixtures/chat/reference.json, made by scripts/make_chat_fixtures.py on the GPU machine).</summary>
public class ChatTemplateParityTests
{
    static readonly Lazy<JsonNode> Reference = new(() => JsonNode.Parse(File.ReadAllText(
        Path.Combine(TestUtil.RepoRoot(), "tests", "Compact.Tests", "Fixtures", "chat", "reference.json")))!);

    // Llama 3.0's template appends an assistant header after the last message whatever add_generation_prompt says;
    // a training example ends at the assistant's <|eot_id|>, so that trailing header is not part of it.
    const string Llama3TrailingHeader = "<|start_header_id|>assistant<|end_header_id|>\n\n";

    [Theory]
    [InlineData("qwen3")]
    [InlineData("llama3")]
    [InlineData("gemma3")]
    public void Exchanges_render_as_transformers_renders_them(string family)
    {
        var chat = ChatFormat.For(RealTokenizers.Get(family));
        var cases = Reference.Value["families"]![family]!["exchanges"]!.AsArray();
        Assert.Equal(12, cases.Count);
        foreach (var c in cases)
        {
            string? system = c!["system"]?.GetValue<string>(), assistant = c["assistant"]?.GetValue<string>();
            string user = c["user"]!.GetValue<string>(), want = c["text"]!.GetValue<string>();
            if (family == "llama3" && assistant is not null)
            {
                Assert.EndsWith(Llama3TrailingHeader, want, StringComparison.Ordinal);
                want = want[..^Llama3TrailingHeader.Length];
            }
            Assert.Equal(want, chat.RenderText(system, user, assistant));
        }
    }

    [Theory]
    [InlineData("qwen3")]
    [InlineData("llama3")]
    [InlineData("gemma3")]
    public void A_conversation_with_a_generation_prompt_encodes_as_the_rendered_text(string family)
    {
        var tok = RealTokenizers.Get(family);
        var conv = Reference.Value["families"]![family]!["conversation"]!;
        var messages = conv["messages"]!.AsArray().Select(m => (m![0]!.GetValue<string>(), m[1]!.GetValue<string>())).ToList();
        Assert.Equal(tok.Encode(conv["text"]!.GetValue<string>()), ChatFormat.For(tok).EncodeConversation(messages));
    }
}
