using System.Text.Json.Nodes;

namespace Compact.Eval;

/// <summary>One answer as a server (or a model) gave it. <paramref name="Text"/> is the reply's content;
/// <paramref name="Reasoning"/> the reasoning a reasoning server returns beside it (<c>reasoning_content</c>,
/// <c>reasoning</c>); <paramref name="Refusal"/> the reason when the server declined to answer (an OpenAI
/// <c>refusal</c>, a <c>content_filter</c> finish, a request it rejected); <paramref name="Meta"/> what else goes
/// into the prediction line (attempts, latency, token counts).</summary>
public sealed record Reply(string Text, string? Reasoning = null, string? FinishReason = null, string? Refusal = null, JsonObject? Meta = null)
{
    /// <summary>The reasoning and the final answer of a reply. A <c>&lt;think&gt;…&lt;/think&gt;</c> block in the
    /// content (or content that ends its reasoning with <c>&lt;/think&gt;</c> because the template opened the block in
    /// the prompt, as Qwen3's does) is reasoning; the answer is what follows the last <c>&lt;/think&gt;</c>. A block
    /// opened and never closed (the reply ran out of tokens while thinking) leaves no final answer. Reasoning the
    /// server sent separately comes first.</summary>
    public (string? Reasoning, string Final) Split()
    {
        string? thought = null;
        var final = Text;
        int close = Text.LastIndexOf("</think>", StringComparison.Ordinal);
        if (close >= 0)
        {
            var head = Text[..close];
            int open = head.IndexOf("<think>", StringComparison.Ordinal);
            thought = (open >= 0 ? head[(open + "<think>".Length)..] : head).Replace("<think>", "").Replace("</think>", "").Trim();
            final = Text[(close + "</think>".Length)..].Trim();
        }
        else if (Text.IndexOf("<think>", StringComparison.Ordinal) is var o and >= 0)
        {
            thought = Text[(o + "<think>".Length)..].Trim();
            final = "";
        }
        if (!string.IsNullOrEmpty(Reasoning))
            thought = string.IsNullOrEmpty(thought) ? Reasoning : Reasoning + "\n\n" + thought;
        return (string.IsNullOrEmpty(thought) ? null : thought, final);
    }
}
