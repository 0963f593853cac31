using System.CommandLine;
using Holdfast.LoadTool;

var root = new RootCommand("Holdfast load tool: drives the storage engine and prints one JSON line per measurement.");
root.Subcommands.Add(StorageCommand.Create());
root.Subcommands.Add(RecoveryCommand.Create());
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
