using System.Runtime.CompilerServices;
using Compact.Models;

namespace Compact.Tests.Models;

/// <summary>Runs before any test touches libtorch, so the suite computes under the same MKL mode as the CLI
/// (<see cref="Devices.ReproducibleMkl"/>; MKL reads it once, at its first call).</summary>
static class NumericsSetup
{
    [ModuleInitializer]
    internal static void Init() => Devices.ReproducibleMkl();
}

/// <summary>Issue 11: the same demo run in two processes drifted apart from its first step (5th digit, then points of
/// accuracy). Under MKL's strict reproducibility mode, set by the CLI before libtorch's first call, the first 33 steps
/// printed the same losses and gradient norms in 7 of 7 repeats. Which MKL routine varied was not isolated (products at every alignment and on fresh threads repeat
/// without it too), so what is checked here is that the mode is in place.</summary>
public class ReproducibleNumericsTests
{
    [Fact]
    public void The_mode_is_in_the_process_environment_unless_the_user_chose_one()
    {
        // Set by the module initializer above (before libtorch's first call) or by the user beforehand; both are kept.
        Assert.False(string.IsNullOrEmpty(NativeEnv("MKL_CBWR")));
        if (Environment.GetEnvironmentVariable("MKL_CBWR") is null) Assert.Equal("AUTO,STRICT", NativeEnv("MKL_CBWR"));
    }

    static string? NativeEnv(string name) => System.Runtime.InteropServices.Marshal.PtrToStringAnsi(getenv(name));

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "getenv", CharSet = System.Runtime.InteropServices.CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    static extern IntPtr getenv(string name);
}
