using Compact.Distill;

namespace Compact.Teach;

/// <summary>The --min-rationales rule shared by `data check` and training: COMPACT weighs a question's rationales against
/// each other, so it needs at least two; single-teacher training needs one.</summary>
public static class Rationales
{
    /// <summary>The default floor for a training method: 1 for single-teacher SFT, 2 for every multi-teacher method.</summary>
    public static int DefaultMin(string method) => method == "single" ? 1 : 2;

    /// <summary>Questions with fewer than `min` rationales, in file order.</summary>
    public static List<MtQuestion> Below(IReadOnlyList<MtQuestion> qs, int min) => qs.Where(q => q.Rationales.Count < min).ToList();

    /// <summary>Keeps the questions with at least `min` rationales; `dropped` gets the count left out.</summary>
    public static List<MtQuestion> AtLeast(IReadOnlyList<MtQuestion> qs, int min, out int dropped)
    {
        var keep = qs.Where(q => q.Rationales.Count >= min).ToList();
        dropped = qs.Count - keep.Count;
        return keep;
    }
}
