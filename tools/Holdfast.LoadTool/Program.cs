using System.CommandLine;
using Holdfast.LoadTool;
using Holdfast.LoadTool.Amqp;

var root = new RootCommand("Holdfast load tool: drives the storage engine, or a broker over AMQP, and prints one JSON line per measurement.");
root.Subcommands.Add(StorageCommand.Create());
root.Subcommands.Add(RecoveryCommand.Create());
root.Subcommands.Add(AmqpCommand.Create());
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
