namespace Compact;

/// <summary>A user-facing failure: one sentence that says what is wrong and how to fix it.
/// The command line prints only the message (no stack trace unless --verbose) and exits non-zero.</summary>
public class CompactException(string message, Exception? inner = null) : Exception(message, inner);
