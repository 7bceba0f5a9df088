using Compact.Generation;
using Compact.Tokenization;

namespace Compact.Eval;

/// <summary>Answers with a model: each question rendered through the model's chat format
/// (<see cref="EvalPrompts.Messages"/>, <see cref="ChatFormat.EncodePrompt"/>), the whole batch decoded greedily in one
/// left-padded pass with the KV cache (<see cref="LoadedModel.Generate"/>), each row stopping at the end-of-turn token
/// or eos. With the Plain format (base models) a row also stops where the model starts a new "\nQuestion:".
/// With <paramref name="escapeSpecialInContent"/>, control tokens written in a question or instruction
/// ("&lt;|im_end|&gt;") are encoded as plain text (<see cref="ChatFormat.EncodePrompt(string?, string, bool)"/>);
/// by default they become the control tokens, as with Hugging Face's chat templates.</summary>
public sealed class ModelAnswerer(LoadedModel model, int maxNewTokens, bool ownsModel = true, bool escapeSpecialInContent = false) : IAnswerer
{
    /// <summary>Base models continue a Question/Answer transcript with the next question; cut it there.</summary>
    public const string PlainStop = "\nQuestion:";

    public LoadedModel Model => model;

    public IReadOnlyList<string> Answer(IReadOnlyList<EvalQuestion> batch, CancellationToken ct = default)
    {
        var prompts = batch.Select(q =>
        {
            var (system, user) = EvalPrompts.Messages(model.Chat.Style, q);
            return model.Chat.EncodePrompt(system, user, escapeSpecialInContent);
        }).ToList();
        var options = new GenerationOptions
        {
            MaxNewTokens = maxNewTokens,
            Temperature = 0,
            StopStrings = model.Chat.Style == ChatStyle.Plain ? [PlainStop] : [],
        };
        return model.Generate(prompts, options, ct).Select(r => r.Text).ToList();
    }

    public void Dispose()
    {
        if (ownsModel) model.Dispose();
    }
}
