namespace Compact.Util;

/// <summary>One unit of long work with a known number of steps.</summary>
public interface IProgressTask
{
    void Set(double value, string? status = null);
    void Increment(double by = 1, string? status = null);
}

/// <summary>Shows progress of long work. The library reports through this; the pipeline's ProgressHost draws bars
/// or plain lines.</summary>
public interface IProgressReporter
{
    T Run<T>(string title, double total, Func<IProgressTask, T> body);
    void Run(string title, double total, Action<IProgressTask> body) => Run(title, total, t => { body(t); return 0; });
}

/// <summary>Reports nothing (library callers without a console, tests).</summary>
public sealed class NoProgress : IProgressReporter
{
    public static NoProgress Instance { get; } = new();
    public T Run<T>(string title, double total, Func<IProgressTask, T> body) => body(new Task());

    sealed class Task : IProgressTask
    {
        public void Set(double value, string? status = null) { }
        public void Increment(double by = 1, string? status = null) { }
    }
}
