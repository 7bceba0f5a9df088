namespace Compact.Training;

/// <summary>Deterministic seed mixing (HashCode is randomised per process, so it cannot be used for seeds).</summary>
public static class Seeds
{
    public static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    public static int Mix(long a, long b) => (int)(SplitMix(SplitMix((ulong)a) ^ (ulong)b) & 0x7FFFFFFF);
}
