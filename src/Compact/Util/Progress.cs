using System.Diagnostics;
using Spectre.Console;

namespace Compact.Util;

/// <summary>Shows progress: a Spectre.Console bar with ETA on an interactive terminal, otherwise a plain
/// line every ~5% (so logs and CI stay readable).</summary>
public sealed class ProgressHost : IProgressReporter
{
    readonly TextWriter _out;
    readonly bool _interactive;

    public ProgressHost(TextWriter output, bool? interactive = null)
    {
        _out = output;
        _interactive = interactive ?? (ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive);
    }

    public static ProgressHost Silent { get; } = new(TextWriter.Null, false);

    public T Run<T>(string title, double total, Func<IProgressTask, T> body)
    {
        if (_interactive)
        {
            return AnsiConsole.Progress()
                .AutoClear(false)
                .HideCompleted(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var t = ctx.AddTask(Markup.Escape(title), maxValue: Math.Max(total, 1e-9));
                    return body(new SpectreTask(t, title));
                });
        }
        var plain = new PlainTask(_out, title, total);
        var r = body(plain);
        plain.Finish();
        return r;
    }

    public void Run(string title, double total, Action<IProgressTask> body) => Run(title, total, t => { body(t); return 0; });

    /// <summary>Several bars at once (e.g. one per teacher), for asynchronous work.</summary>
    public async Task RunManyAsync(IReadOnlyList<(string Title, double Total)> bars, Func<IReadOnlyList<IProgressTask>, Task> body)
    {
        if (_interactive)
        {
            await AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new ElapsedTimeColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    var tasks = bars.Select(b => (IProgressTask)new SpectreTask(ctx.AddTask(Markup.Escape(b.Title), maxValue: Math.Max(b.Total, 1e-9)), b.Title)).ToList();
                    await body(tasks);
                });
            return;
        }
        var plain = bars.Select(b => new PlainTask(_out, b.Title, b.Total)).ToList();
        await body(plain);
        foreach (var p in plain) lock (_out) p.Finish();
    }

    sealed class SpectreTask(ProgressTask task, string title) : IProgressTask
    {
        public void Set(double value, string? status = null)
        {
            task.Value = value;
            if (status is not null) task.Description = Markup.Escape($"{title}  {status}");
        }
        public void Increment(double by = 1, string? status = null) => Set(task.Value + by, status);
    }

    sealed class PlainTask(TextWriter output, string title, double total) : IProgressTask
    {
        readonly Stopwatch _sw = Stopwatch.StartNew();
        double _value, _lastPrinted = double.NegativeInfinity;
        string? _status;

        public void Set(double value, string? status = null)
        {
            _value = value;
            if (status is not null) _status = status;
            if (total <= 0 || value - _lastPrinted >= total / 20 || value >= total) Print();
        }

        public void Increment(double by = 1, string? status = null) => Set(_value + by, status);

        void Print()
        {
            lock (output) PrintLocked();
        }

        void PrintLocked()
        {
            _lastPrinted = _value;
            double frac = total > 0 ? _value / total : 1;
            var eta = frac > 0 && frac < 1 ? TimeSpan.FromSeconds(_sw.Elapsed.TotalSeconds * (1 - frac) / frac) : TimeSpan.Zero;
            output.WriteLine($"{title}: {_value:0}/{total:0} ({frac:P0}) elapsed {_sw.Elapsed:mm\\:ss} eta {eta:mm\\:ss}{(_status is null ? "" : "  " + _status)}");
        }

        public void Finish() { if (_value != _lastPrinted) PrintLocked(); }
    }
}
