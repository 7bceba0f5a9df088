using System.Globalization;

// Numbers in files and tables are written the same on every machine (a German locale would otherwise print 0,5):
// the library formats with the invariant culture explicitly, and the command line runs under it as well.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.DefaultThreadCurrentUICulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
// Reproducible CPU numerics: MKL reads its mode once, at libtorch's first call, so it is set before anything else.
Compact.Models.Devices.ReproducibleMkl();
return Compact.Cli.CompactCli.Run(args);
