using System.Text;
using System.Text.RegularExpressions;

namespace Compact.Tokenization;

public enum ChatStyle
{
    /// <summary>No chat template (base models): <c>{system}\n\nQuestion: {user}\nAnswer: {assistant}{eos}</c>.</summary>
    Plain,
    /// <summary><c>&lt;|im_start|&gt;role\n…&lt;|im_end|&gt;\n</c> (Qwen2, Qwen2.5, Qwen3, our trained tokenizers).</summary>
    ChatMl,
    /// <summary><c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\n…&lt;|eot_id|&gt;</c> (Llama 3, 3.1, 3.2).</summary>
    Llama3,
    /// <summary><c>&lt;start_of_turn&gt;user\n…&lt;end_of_turn&gt;\n&lt;start_of_turn&gt;model\n</c> (Gemma 2, Gemma 3; see <see cref="ChatFormat"/>'s Gemma region).</summary>
    Gemma,
}

/// <summary>What a Hugging Face chat_template renders for one system/user/assistant exchange, read off its text.</summary>
/// <param name="DefaultSystemPrompt">ChatML system prompt the template inserts when there is no system message (Qwen2, Qwen2.5).</param>
/// <param name="ThinkBlock">Qwen3: the final assistant message is rendered as <c>&lt;think&gt;\n{reasoning}\n&lt;/think&gt;\n\n{answer}</c>.</param>
/// <param name="SystemPreamble">Llama 3.1/3.2: text that always opens the system message ("Cutting Knowledge Date: …").</param>
public sealed record ChatTemplateInfo(
    ChatStyle Style, string? DefaultSystemPrompt = null, bool ThinkBlock = false, string? SystemPreamble = null)
{
    /// <summary>Llama 3.1's fallback for <c>date_string</c>; 3.2 would use today's date, we keep data reproducible.</summary>
    public const string DefaultLlamaDate = "26 Jul 2024";

    // A single Jinja string literal '<|im_start|>system\n...<|im_end|>\n' holding the whole default system message.
    private static readonly Regex ChatMlDefaultSystem = new(
        @"(['""])<\|im_start\|>system(?:\\n|\n)((?:(?!\1)[^\\]|\\.)*?)<\|im_end\|>(?:\\n|\n)?\1", RegexOptions.CultureInvariant);
    private static readonly Regex KnowledgeDate = new(@"Cutting Knowledge Date: ([^""'\\\n]+)", RegexOptions.CultureInvariant);
    private static readonly Regex DateString = new(@"date_string\s*=\s*[""']([^""']+)[""']", RegexOptions.CultureInvariant);

    /// <exception cref="InvalidDataException">The template is neither ChatML nor Llama 3.</exception>
    public static ChatTemplateInfo Detect(string? chatTemplate)
    {
        if (string.IsNullOrWhiteSpace(chatTemplate)) return new(ChatStyle.Plain);
        if (chatTemplate.Contains("<|im_start|>", StringComparison.Ordinal))
        {
            var m = ChatMlDefaultSystem.Match(chatTemplate);
            return new(ChatStyle.ChatMl,
                DefaultSystemPrompt: m.Success ? UnescapeJinja(m.Groups[2].Value) : null,
                ThinkBlock: chatTemplate.Contains("reasoning_content", StringComparison.Ordinal)
                            && chatTemplate.Contains("<think>", StringComparison.Ordinal));
        }
        if (chatTemplate.Contains("<|start_header_id|>", StringComparison.Ordinal))
        {
            string? preamble = null;
            if (KnowledgeDate.Match(chatTemplate) is { Success: true } k)
            {
                var date = DateString.Match(chatTemplate) is { Success: true } d ? d.Groups[1].Value : DefaultLlamaDate;
                preamble = $"Cutting Knowledge Date: {k.Groups[1].Value}\nToday Date: {date}\n\n";
            }
            return new(ChatStyle.Llama3, SystemPreamble: preamble);
        }
        if (chatTemplate.Contains("<start_of_turn>", StringComparison.Ordinal)) return new(ChatStyle.Gemma);
        throw new InvalidDataException(
            "The chat_template in tokenizer_config.json is neither ChatML (<|im_start|>), Llama 3 (<|start_header_id|>) nor Gemma (<start_of_turn>); use a Qwen, Llama 3 or Gemma checkpoint, or remove chat_template to get the Plain format.");
    }

    private static string UnescapeJinja(string s) => Regex.Replace(s, @"\\(.)", m => m.Groups[1].Value switch
    {
        "n" => "\n",
        "t" => "\t",
        "r" => "\r",
        var other => other,
    });
}

/// <summary>
/// One training example. The loss is taken on <c>[AssistantStart, TargetEnd)</c>: the assistant content tokens
/// <c>[AssistantStart, AssistantEnd)</c> plus the token(s) closing the turn (&lt;|im_end|&gt;, &lt;|eot_id|&gt;, eos).
/// <c>Ids[..AssistantStart]</c> equals <see cref="ChatFormat.EncodePrompt"/>.
/// </summary>
public sealed record EncodedExample(IReadOnlyList<int> Ids, int AssistantStart, int AssistantEnd, int TargetEnd)
{
    /// <summary>Per position: true on assistant content and the closing end-of-turn token.</summary>
    public bool[] IsTarget
    {
        get
        {
            var mask = new bool[Ids.Count];
            Array.Fill(mask, true, AssistantStart, TargetEnd - AssistantStart);
            return mask;
        }
    }
}

/// <summary>An encoded example whose assistant content was given in parts, with each part's token range.</summary>
public sealed record SegmentedExample(EncodedExample Example, int[] PartStarts, int[] PartEnds);

/// <summary>
/// Renders and tokenizes one system/user/assistant exchange the way the tokenizer's chat_template would.
/// </summary>
/// <remarks>
/// Ids are built by encoding each segment (frame text, each message's content) separately and concatenating,
/// so special tokens never merge with text and message boundaries are token boundaries. For ordinary content
/// this equals encoding <see cref="RenderText"/> whole; it differs only where the whole-string split regex would
/// join text across a boundary (ChatML content starting with a newline, say). Plain's prompt has no special
/// tokens inside, so it is one segment.
/// What each style renders (Llama 3 trims each message as its template does):
/// <code>
/// ChatMl: [&lt;|im_start|&gt;system\n{system}&lt;|im_end|&gt;\n]&lt;|im_start|&gt;user\n{user}&lt;|im_end|&gt;\n&lt;|im_start|&gt;assistant\n{assistant}&lt;|im_end|&gt;\n
/// Llama3: {bos}[&lt;|start_header_id|&gt;system&lt;|end_header_id|&gt;\n\n{preamble}{system}&lt;|eot_id|&gt;]&lt;|start_header_id|&gt;user&lt;|end_header_id|&gt;\n\n{user}&lt;|eot_id|&gt;&lt;|start_header_id|&gt;assistant&lt;|end_header_id|&gt;\n\n{assistant}&lt;|eot_id|&gt;
/// Plain:  {bos if the post-processor adds one}[{system}\n\n]Question: {user}\nAnswer: {assistant}{eos}
/// </code>
/// Qwen2/2.5 templates put their default system prompt in when <c>system</c> is null (not when it is "");
/// Qwen3's re-wraps the answer as <c>&lt;think&gt;\n{reasoning}\n&lt;/think&gt;\n\n{answer}</c>, an empty block when
/// there is no reasoning (<see cref="Qwen3Assistant"/>); Llama 3.1/3.2 always open with a system message holding
/// their "Cutting Knowledge Date" preamble.
/// The prompt (<see cref="EncodePrompt"/>) ends right after the assistant header (Plain: after "Answer:").
/// Llama 3.0's template also appends an assistant header after the last turn; that trailing header is left out.
/// </remarks>
public sealed class ChatFormat
{
    private enum Part { Frame, Content, Assistant, End, Trailer }

    public ChatFormat(HfTokenizer tokenizer, ChatTemplateInfo info)
    {
        Tokenizer = tokenizer;
        Info = info;
        EndOfTurnId = info.Style switch
        {
            ChatStyle.ChatMl => Require("<|im_end|>", "<|im_start|>"),
            ChatStyle.Llama3 => Require("<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"),
            ChatStyle.Gemma => Require("<end_of_turn>", "<start_of_turn>"),
            _ => tokenizer.EosId ?? throw new InvalidDataException(
                "tokenizer_config.json has no eos_token, which the Plain chat format ends each answer with; set eos_token."),
        };
    }

    /// <summary>The format the tokenizer's chat_template implies (Plain when it has none).</summary>
    public static ChatFormat For(HfTokenizer tokenizer) => new(tokenizer, ChatTemplateInfo.Detect(tokenizer.ChatTemplate));

    public HfTokenizer Tokenizer { get; }
    public ChatTemplateInfo Info { get; }
    public ChatStyle Style => Info.Style;

    /// <summary>The token closing an assistant turn (&lt;|im_end|&gt;, &lt;|eot_id|&gt;, or eos for Plain).</summary>
    public int EndOfTurnId { get; }

    /// <summary>The full text; with <paramref name="assistant"/> null, the prompt ending in the assistant header.</summary>
    public string RenderText(string? system, string user, string? assistant = null) =>
        string.Concat(Segments(system, user, assistant).Select(s => s.Text));

    /// <summary>A whole conversation (roles system, user, assistant, in any order the caller gives) rendered as the
    /// template would, ending with the generation prompt for the next assistant turn. Used by `compact serve`.
    /// <paramref name="escapeSpecialInContent"/>: message text is encoded with special tokens read as plain text (Hugging
    /// Face's split_special_tokens), so a "&lt;|im_end|&gt;" typed by a user cannot close its turn; off by default, as in HF.
    /// <paramref name="continueFinal"/>: the last message is an assistant turn left open for the model to continue (HF's
    /// continue_final_message): no end-of-turn after it and no new generation prompt.</summary>
    public IReadOnlyList<int> EncodeConversation(IReadOnlyList<(string Role, string Content)> messages, bool escapeSpecialInContent = false, bool continueFinal = false)
    {
        if (messages.Count == 0) throw new ArgumentException("at least one message", nameof(messages));
        if (continueFinal && messages[^1].Role != "assistant") throw new ArgumentException("continueFinal needs a final assistant message", nameof(messages));
        string? system = messages[0].Role == "system" ? messages[0].Content : null;
        var rest = system is null ? messages : messages.Skip(1).ToList();
        if (rest.Count == 1 && rest[0].Role == "user" && !escapeSpecialInContent) return EncodePrompt(system, rest[0].Content);
        var ids = new List<int>();
        void Add(string text) => Append(ids, text);
        void Content(string text) => Append(ids, text, escapeSpecialInContent);
        bool Open(int i) => continueFinal && i == rest.Count - 1;
        switch (Info.Style)
        {
            case ChatStyle.ChatMl:
                if ((system ?? Info.DefaultSystemPrompt) is { } sys) { Add("<|im_start|>system\n"); Content(sys); Add("<|im_end|>\n"); }
                for (int i = 0; i < rest.Count; i++) { Add($"<|im_start|>{rest[i].Role}\n"); Content(rest[i].Content); if (!Open(i)) Add("<|im_end|>\n"); }
                if (!continueFinal) Add("<|im_start|>assistant\n");
                break;
            case ChatStyle.Llama3:
                Add(Tokenizer.BosToken ?? "");
                if (Info.SystemPreamble is not null || system is not null)
                {
                    Add("<|start_header_id|>system<|end_header_id|>\n\n" + Info.SystemPreamble);
                    Content(PyStrip(system ?? ""));
                    Add("<|eot_id|>");
                }
                for (int i = 0; i < rest.Count; i++)
                {
                    Add($"<|start_header_id|>{rest[i].Role}<|end_header_id|>\n\n"); Content(PyStrip(rest[i].Content));
                    if (!Open(i)) Add("<|eot_id|>");
                }
                if (!continueFinal) Add("<|start_header_id|>assistant<|end_header_id|>\n\n");
                break;
            case ChatStyle.Gemma:
                foreach (var (segment, _) in GemmaConversation(system, rest)) Add(segment);
                break;
            default:
                if (escapeSpecialInContent)
                {
                    ids.AddRange(Tokenizer.SpecialPrefixIds);
                    if (!string.IsNullOrEmpty(system)) { Content(system); Add("\n\n"); }
                    for (int i = 0; i < rest.Count; i++)
                    {
                        if (rest[i].Role == "assistant") { Add("\nAnswer: "); Content(rest[i].Content); if (!Open(i)) Add($"{Tokenizer.IdToToken(EndOfTurnId)}\n\n"); }
                        else { Add("Question: "); Content(rest[i].Content); }
                    }
                    if (!continueFinal) Add("\nAnswer:");
                    break;
                }
                var text = new System.Text.StringBuilder(Tokenizer.Decode(Tokenizer.SpecialPrefixIds));
                if (!string.IsNullOrEmpty(system)) text.Append(system).Append("\n\n");
                for (int i = 0; i < rest.Count; i++)
                    text.Append(rest[i].Role == "assistant" ? $"\nAnswer: {rest[i].Content}{(Open(i) ? "" : Tokenizer.IdToToken(EndOfTurnId) + "\n\n")}" : $"Question: {rest[i].Content}");
                if (!continueFinal) text.Append("\nAnswer:");
                Add(text.ToString());
                break;
        }
        return ids;
    }

    /// <summary>The prompt, ending right after the assistant header. With <paramref name="escapeSpecialInContent"/> the
    /// messages' text (not the template's frame) is encoded with special tokens as plain text
    /// (<see cref="HfTokenizer.EncodeSpecialAsText"/>), so a "&lt;|im_end|&gt;" written in a question stays text.
    /// Without it, as Hugging Face's apply_chat_template does, such text becomes the control token.</summary>
    public IReadOnlyList<int> EncodePrompt(string? system, string user, bool escapeSpecialInContent = false)
    {
        var ids = new List<int>();
        foreach (var (text, part) in Segments(system, user, null)) Append(ids, text, escapeSpecialInContent && part == Part.Content);
        return ids;
    }

    public EncodedExample EncodeExample(string? system, string user, string assistant)
    {
        var ids = new List<int>();
        int start = -1, end = -1, targetEnd = -1;
        foreach (var (text, part) in Segments(system, user, assistant))
        {
            if (part == Part.Assistant) start = ids.Count;
            Append(ids, text);
            if (part == Part.Assistant) end = ids.Count;
            if (part == Part.End) targetEnd = ids.Count;
        }
        return new EncodedExample(ids, start, end, targetEnd);
    }

    /// <summary>Like <see cref="EncodeExample(string?, string, string)"/> with the assistant content given in parts
    /// (e.g. rationale, answer lead-in, answer, rest), each encoded on its own so that a part's tokens are the same
    /// whatever precedes it. PartStarts/PartEnds give each part's [start, end) token range in Ids. With a think-block
    /// template the first part is the reasoning and the others follow the block (<see cref="EncodeRationale"/>).</summary>
    public SegmentedExample EncodeExample(string? system, string user, IReadOnlyList<string> assistantParts)
    {
        if (assistantParts.Count == 0) throw new ArgumentException("at least one assistant part", nameof(assistantParts));
        var parts = assistantParts.ToArray();
        var full = string.Concat(parts);
        switch (Info.Style)
        {
            case ChatStyle.ChatMl when Info.ThinkBlock:
                // The first part is the reasoning, the rest the content after the think block.
                return EncodeRationale(system, user, parts[0], parts[1..]);
            case ChatStyle.Llama3 or ChatStyle.Gemma:
                parts[0] = parts[0].TrimStart(PythonWhitespace);
                parts[^1] = parts[^1].TrimEnd(PythonWhitespace);
                break;
            case ChatStyle.Plain:
                parts[0] = " " + parts[0];
                break;
        }
        return EncodeParts(system, user, full, parts);
    }

    /// <summary>A rationale and the answer statement that follows it, as one assistant turn; PartStarts/PartEnds
    /// give the token ranges of the rationale (index 0) and of each answer part (1…). With a think-block template
    /// (Qwen3) the rationale is the turn's <c>reasoning_content</c> and the answer statement its <c>content</c>,
    /// rendered as the template renders them: <c>&lt;think&gt;\n{reasoning.strip('\n')}\n&lt;/think&gt;\n\n{content.lstrip('\n')}</c>.
    /// A teacher's own think block inside the rationale (R1, QwQ: <c>&lt;think&gt;…&lt;/think&gt; summary</c>) is
    /// unwrapped first (<see cref="ReasoningOf"/>), so the answer statement always stays after the block.
    /// Other styles: <see cref="EncodeExample(string?, string, IReadOnlyList{string})"/> of [rationale, ..answer].</summary>
    public SegmentedExample EncodeRationale(string? system, string user, string rationale, IReadOnlyList<string> answerParts)
    {
        if (!(Info.Style == ChatStyle.ChatMl && Info.ThinkBlock)) return EncodeExample(system, user, [rationale, .. answerParts]);
        var reasoning = ReasoningOf(rationale).Trim('\n');
        var content = answerParts.ToArray();
        for (int i = 0; i < content.Length; i++)                    // content.lstrip('\n') across the parts
        {
            content[i] = content[i].TrimStart('\n');
            if (content[i].Length > 0) break;
        }
        string[] pieces = ["<think>\n", reasoning, "\n</think>\n\n", .. content];
        var seg = EncodeParts(system, user, string.Concat(pieces), pieces);
        int[] keep = [1, .. Enumerable.Range(3, content.Length)];
        return new SegmentedExample(seg.Example, keep.Select(i => seg.PartStarts[i]).ToArray(), keep.Select(i => seg.PartEnds[i]).ToArray());
    }

    /// <summary>The reasoning a rationale holds, without think markers: a teacher's <c>&lt;think&gt;thought&lt;/think&gt;
    /// after</c> becomes <c>thought\n\nafter</c> (text before the opening marker is dropped, as Qwen3's template
    /// drops it); a rationale without markers is returned as it is.</summary>
    public static string ReasoningOf(string rationale)
    {
        const string Open = "<think>", Close = "</think>";
        int close = rationale.IndexOf(Close, StringComparison.Ordinal);
        if (close < 0) return rationale.Replace(Open, "", StringComparison.Ordinal);
        var thought = rationale[..close];
        int open = thought.LastIndexOf(Open, StringComparison.Ordinal);
        if (open >= 0) thought = thought[(open + Open.Length)..];
        var after = rationale[(close + Close.Length)..].Replace(Close, "", StringComparison.Ordinal).Replace(Open, "", StringComparison.Ordinal);
        thought = thought.Trim('\n');
        after = after.Trim('\n');
        return after.Trim().Length == 0 ? thought : thought.Trim().Length == 0 ? after : thought + "\n\n" + after;
    }

    /// <summary>Appends one segment's ids. A segment that continues text (anything but the start or a special token) is
    /// encoded as a continuation (<see cref="HfTokenizer.EncodeContinuation"/>), so sentencepiece files with a
    /// <c>Prepend("▁")</c> normalizer do not get a "▁" at every segment boundary that the whole string would not have;
    /// after a special token a new stretch starts, as in Hugging Face's added-token splitting.</summary>
    private void Append(List<int> ids, string text, bool escapeSpecial = false)
    {
        if (ids.Count > 0 && !Tokenizer.IsSpecial(ids[^1])) ids.AddRange(Tokenizer.EncodeContinuation(text, escapeSpecial));
        else ids.AddRange(escapeSpecial ? Tokenizer.EncodeSpecialAsText(text) : Tokenizer.Encode(text));
    }

    /// <summary>Encodes the frame around <paramref name="full"/> and the assistant content as the given pieces, each on its own.</summary>
    private SegmentedExample EncodeParts(string? system, string user, string full, string[] parts)
    {
        var ids = new List<int>();
        int start = -1, end = -1, targetEnd = -1;
        var starts = new int[parts.Length];
        var ends = new int[parts.Length];
        foreach (var (text, part) in Segments(system, user, full))
        {
            if (part == Part.Assistant)
            {
                start = ids.Count;
                for (int i = 0; i < parts.Length; i++)
                {
                    starts[i] = ids.Count;
                    Append(ids, parts[i]);
                    ends[i] = ids.Count;
                }
                end = ids.Count;
                continue;
            }
            Append(ids, text);
            if (part == Part.End) targetEnd = ids.Count;
        }
        return new SegmentedExample(new EncodedExample(ids, start, end, targetEnd), starts, ends);
    }

    private List<(string Text, Part Part)> Segments(string? system, string user, string? assistant)
    {
        var s = new List<(string, Part)>();
        switch (Info.Style)
        {
            case ChatStyle.ChatMl:
                if ((system ?? Info.DefaultSystemPrompt) is { } sys)
                {
                    s.Add(("<|im_start|>system\n", Part.Frame));
                    s.Add((sys, Part.Content));
                    s.Add(("<|im_end|>\n", Part.Frame));
                }
                s.Add(("<|im_start|>user\n", Part.Frame));
                s.Add((user, Part.Content));
                s.Add(("<|im_end|>\n<|im_start|>assistant\n", Part.Frame));
                if (assistant is null) break;
                s.Add((Info.ThinkBlock ? Qwen3Assistant(assistant) : assistant, Part.Assistant));
                s.Add(("<|im_end|>", Part.End));
                s.Add(("\n", Part.Trailer));
                break;

            case ChatStyle.Llama3:
                s.Add((Tokenizer.BosToken ?? "", Part.Frame));
                if (Info.SystemPreamble is not null || system is not null)
                {
                    s.Add(("<|start_header_id|>system<|end_header_id|>\n\n" + Info.SystemPreamble, Part.Frame));
                    s.Add((PyStrip(system ?? ""), Part.Content));
                    s.Add(("<|eot_id|>", Part.Frame));
                }
                s.Add(("<|start_header_id|>user<|end_header_id|>\n\n", Part.Frame));
                s.Add((PyStrip(user), Part.Content));
                s.Add(("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", Part.Frame));
                if (assistant is null) break;
                s.Add((PyStrip(assistant), Part.Assistant));
                s.Add(("<|eot_id|>", Part.End));
                break;

            case ChatStyle.Gemma:
                s.AddRange(GemmaSegments(system, user, assistant));
                break;

            default:
                // One segment for the whole prompt: no special token separates its parts, and text such as
                // "?" + "\n" would join across a segment boundary. The answer's leading space travels with it,
                // so " word" stays one pre-token.
                s.Add((Tokenizer.Decode(Tokenizer.SpecialPrefixIds), Part.Frame));
                var context = string.IsNullOrEmpty(system) ? "" : system + "\n\n";
                s.Add(($"{context}Question: {user}\nAnswer:", Part.Content));
                if (assistant is null) break;
                s.Add((" " + assistant, Part.Assistant));
                s.Add((Tokenizer.IdToToken(EndOfTurnId), Part.End));
                break;
        }
        return s;
    }

    #region Gemma
    // Gemma 3's chat_template: {bos}<start_of_turn>user\n{system + "\n\n" if any}{user | trim}<end_of_turn>\n
    // <start_of_turn>model\n{assistant | trim}<end_of_turn>\n; the system message has no turn of its own but
    // prefixes the first user turn, untrimmed; "assistant" is called "model".

    private List<(string Text, Part Part)> GemmaSegments(string? system, string user, string? assistant)
    {
        var s = GemmaConversation(system, [("user", user)]);
        if (assistant is null) return s;
        s.Add((PyStrip(assistant), Part.Assistant));
        s.Add(("<end_of_turn>", Part.End));
        s.Add(("\n", Part.Trailer));
        return s;
    }

    /// <summary>The turns so far, ending with the generation prompt "&lt;start_of_turn&gt;model\n".</summary>
    private List<(string Text, Part Part)> GemmaConversation(string? system, IReadOnlyList<(string Role, string Content)> turns)
    {
        var s = new List<(string, Part)> { (Tokenizer.BosToken ?? "", Part.Frame) };
        for (var i = 0; i < turns.Count; i++)
        {
            var (role, content) = turns[i];
            s.Add(($"<start_of_turn>{(role == "assistant" ? "model" : role)}\n", Part.Frame));
            if (i == 0 && system is not null) s.Add((system + "\n\n", Part.Content));
            s.Add((PyStrip(content), Part.Content));
            s.Add(("<end_of_turn>\n", Part.Frame));
        }
        s.Add(("<start_of_turn>model\n", Part.Frame));
        return s;
    }
    #endregion

    /// <summary>Qwen3's template for the final assistant message: reasoning split off at &lt;/think&gt; and re-wrapped.</summary>
    internal static string Qwen3Assistant(string content)
    {
        var reasoning = "";
        if (content.Contains("</think>", StringComparison.Ordinal))
        {
            var parts = content.Split("</think>");
            reasoning = parts[0].TrimEnd('\n').Split("<think>")[^1].TrimStart('\n');
            content = parts[^1].TrimStart('\n');
        }
        return "<think>\n" + reasoning.Trim('\n') + "\n</think>\n\n" + content.TrimStart('\n');
    }

    // Jinja's trim is Python's str.strip(): str.isspace also counts U+001C..U+001F, which char.IsWhiteSpace does not.
    private static string PyStrip(string s) => s.Trim(PythonWhitespace);

    private static readonly char[] PythonWhitespace = Enumerable.Range(0, 0x3001)
        .Where(c => char.IsWhiteSpace((char)c) || c is >= 0x1C and <= 0x1F).Select(c => (char)c).ToArray();

    private int Require(string endToken, params string[] others)
    {
        foreach (var t in others.Prepend(endToken))
            if (!Tokenizer.AddedTokens.ContainsKey(t))
                throw new InvalidDataException(
                    $"tokenizer.json has no added token \"{t}\", which the {Info.Style} chat format needs; use the tokenizer that matches the chat_template.");
        return Tokenizer.AddedTokens[endToken];
    }
}
