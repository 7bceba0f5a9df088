using Compact.Bench;

// `dotnet run -c Release --project bench/Compact.Bench -- NAME [options]`: runs one benchmark program, which prints its
// numbers and writes bench/results/NAME.json. Without a name, lists them.
if (args.Length == 0 || args[0] is "-h" or "--help" or "list")
{
    Registry.PrintList(Console.Out);
    return 0;
}
if (!Registry.All.TryGetValue(args[0], out var bench))
{
    Console.Error.WriteLine($"unknown benchmark '{args[0]}'.");
    Registry.PrintList(Console.Error);
    return 1;
}
// The same reproducible CPU numerics as the CLI (set before libtorch's first call).
Compact.Models.Devices.ReproducibleMkl();
try { return bench.Run(args[1..]); }
catch (Compact.CompactException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
