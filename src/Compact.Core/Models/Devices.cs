using TorchSharp;
using static TorchSharp.torch;

namespace Compact.Models;

/// <summary>Parses --device and --dtype, failing early with the fix when the hardware or build lacks them.</summary>
public static class Devices
{
    public static Device Parse(string s)
    {
        var v = s.Trim().ToLowerInvariant();
        if (v == "cpu") return torch.CPU;
        if (v == "cuda" || v.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
                throw new CompactException("--device cuda: no CUDA device is available to this build (TorchSharp-cpu). "
                    + "On a machine with an NVIDIA GPU, build with `dotnet build -c Release -p:TorchBackend=cuda`, or use --device cpu.");
            return torch.device(v);
        }
        throw new CompactException($"unknown --device '{s}'; use cpu, cuda or cuda:N.");
    }

    public static ScalarType ParseDType(string s) => CausalLM.ParseDType(s) is { } t && t != ScalarType.Float16
        ? t
        : throw new CompactException($"unknown --dtype '{s}'; use float32 or bfloat16.");

    /// <summary>Uses every core for intra-op parallelism on CPU (libtorch's default can be lower in containers), makes
    /// CPU numerics reproducible (<see cref="ReproducibleMkl"/>), and on glibc keeps freed tensor memory in the process
    /// instead of returning it to the kernel after every step.</summary>
    public static void ConfigureThreads()
    {
        ReproducibleMkl();
        // Always set, even when libtorch already reports n: libtorch then also stores the count it gives threads that start
        // parallel work later, and turns MKL's dynamic choice of threads off (a varying count changes the order of sums).
        torch.set_num_threads(Environment.ProcessorCount);
        KeepFreedMemory();
    }

    /// <summary>MKL (linked into libtorch's CPU library) may compute in a different order from run to run: the same
    /// demo training run in two processes drifted apart from its first step (5th digit, then points of accuracy; issue
    /// 11). MKL's conditional-numerical-reproducibility mode "AUTO,STRICT" keeps the processor's fastest code path and,
    /// as MKL documents it, gives bitwise-repeatable results whatever the buffer alignment; with it the first 33 steps
    /// of that run printed the same losses and gradient norms (7 digits) in 7 of 7 repeats, at the same speed (without it two runs differed from step 1;
    /// with only the thread count fixed, one of four differed by step 17). (Multi-branch runs drifted later for another
    /// reason, see <see cref="Compact.Training.SequenceBatch.Pick"/>.) MKL reads MKL_CBWR once, at its first
    /// call, so this must run before any tensor work; a value the user set is kept.</summary>
    public static void ReproducibleMkl()
    {
        if (!OperatingSystem.IsLinux()) return;
        try { _ = setenv("MKL_CBWR", "AUTO,STRICT", 0); }              // 0: never overwrite, so calling again changes nothing
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { /* not glibc */ }
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "setenv", CharSet = System.Runtime.InteropServices.CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    static extern int setenv(string name, string value, int overwrite);

    static bool _mallocTuned;

    /// <summary>glibc serves large allocations with fresh mmap pages and trims freed heap back to the kernel, so every
    /// training step page-faults its activations in again (measured: a 0.5B LoRA step 6.5 s → 4.4 s once memory is
    /// kept). Raising the mmap and trim thresholds keeps the memory for reuse, as the MALLOC_MMAP_THRESHOLD_ and
    /// MALLOC_TRIM_THRESHOLD_ variables would; other C libraries are left alone.</summary>
    public static void KeepFreedMemory()
    {
        if (_mallocTuned || !OperatingSystem.IsLinux()) return;
        _mallocTuned = true;
        try
        {
            const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3;
            // 32 MiB is the largest mmap threshold glibc accepts; allocations above it still use mmap.
            // mallopt returns 0 when glibc refuses a setting; then allocation simply keeps glibc's defaults.
            _ = mallopt(M_MMAP_THRESHOLD, 32 << 20);
            _ = mallopt(M_TRIM_THRESHOLD, -1);             // read as SIZE_MAX: never trim
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { /* not glibc */ }
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "mallopt")]
    static extern int mallopt(int param, int value);
}
