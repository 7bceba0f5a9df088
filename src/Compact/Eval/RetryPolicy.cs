using System.Globalization;

namespace Compact.Eval;

/// <summary>When to retry a request to an evaluation endpoint and how long to wait: exponential backoff with "equal
/// jitter" (half the step fixed, half uniform, so that many clients throttled at once do not retry in lockstep),
/// never shorter than the server's Retry-After. Teach's <see cref="Teach.Backoff"/> shares the Retry-After parsing and
/// the retryable statuses below; its jitter is added on top of the step instead.</summary>
public sealed record RetryPolicy(TimeSpan Base, TimeSpan Max, int MaxRetries = 6)
{
    public static readonly RetryPolicy Default = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));

    /// <summary>Wait before retry number <paramref name="attempt"/> (0-based): with step = min(Max, Base·2^attempt),
    /// step/2 + u·step/2 for u in [0, 1), raised to Retry-After when the server asked for longer.</summary>
    public TimeSpan Delay(int attempt, TimeSpan? retryAfter, double u)
    {
        double step = Math.Min(Max.TotalSeconds, Base.TotalSeconds * Math.Pow(2, Math.Min(attempt, 62)));
        double s = step / 2 + u * step / 2;
        if (retryAfter is { } ra && ra.TotalSeconds > s) s = ra.TotalSeconds;
        return TimeSpan.FromSeconds(s);
    }

    /// <summary>Retry-After as delta-seconds or an HTTP date; null when absent or unreadable.</summary>
    public static TimeSpan? ParseRetryAfter(string? value, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var s)) return TimeSpan.FromSeconds(Math.Max(0, s));
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var d))
            return d > now ? d - now : TimeSpan.Zero;
        return null;
    }

    /// <summary>Worth retrying: no response (0: connection error, timeout), 408, 409, 425, 429 and 5xx.</summary>
    public static bool Retryable(int status) => status is 0 or 408 or 409 or 425 or 429 or >= 500;

    /// <summary>A setup error that no retry and no other question can fix: wrong key, no access, no such model or path.</summary>
    public static bool Fatal(int status) => status is 401 or 403 or 404;
}
