using System.Text;

namespace Compact.Tokenization;

/// <summary>Unicode Normalization Form C, as Qwen's tokenizer.json asks for, through .NET's own (ICU-backed)
/// string.Normalize. Under invariant globalization .NET leaves non-ASCII text unchanged without saying so;
/// that would silently change token ids, so it is detected and refused.</summary>
public static class Nfc
{
    static readonly Lazy<bool> Works = new(() => "e\u0301".Normalize(NormalizationForm.FormC) == "\u00e9");

    public static string Normalize(string text)
    {
        try
        {
            if (text.IsNormalized(NormalizationForm.FormC)) return text;
        }
        catch (ArgumentException) { return text; }   // lone surrogates: not valid Unicode, passed through as they are
        if (!Works.Value)
            throw new InvalidOperationException(
                "Unicode normalization is unavailable (.NET runs in invariant globalization mode, without ICU); install libicu, "
                + "or unset DOTNET_SYSTEM_GLOBALIZATION_INVARIANT, so that NFC tokenizers give the right ids.");
        return text.Normalize(NormalizationForm.FormC);
    }
}
