using Compact.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Tests;

public static class TestUtil
{
    /// <summary>A scratch folder deleted when disposed.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("compact-test-").FullName;
        public string this[string name] => System.IO.Path.Combine(Path, name);
        public void Dispose() { try { Directory.Delete(Path, true); } catch { } }
    }

    /// <summary>The repository root (the folder holding Compact.slnx).</summary>
    /// <summary>Runs the command line in-process: exit code, standard output and standard error.</summary>
    public static (int Code, string Out, string Err) RunCli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Compact.Cli.CompactCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    public static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(System.IO.Path.Combine(d.FullName, "Compact.slnx"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    public static CausalLM TinyModel(string preset = "qwen2-tiny", int vocab = 96, long seed = 1, ScalarType dtype = ScalarType.Float32)
    {
        var cfg = Presets.Get(preset).Make(vocab);
        var m = new CausalLM(cfg, dtype, torch.CPU);
        m.InitializeRandom(seed);
        m.eval();
        return m;
    }

    public static float MaxAbsDiff(Tensor a, Tensor b)
    {
        using var d = a.to(ScalarType.Float32).sub(b.to(ScalarType.Float32)).abs().max();
        return d.item<float>();
    }
}
