using System.Globalization;

// Numbers in files and tables are written the same on every machine (a German locale would otherwise print 0,5):
// the library formats with the invariant culture explicitly, and the command line runs under it as well.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.DefaultThreadCurrentUICulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
return Compact.Cli.CompactCli.Run(args);
