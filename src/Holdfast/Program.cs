using System.CommandLine;
using Holdfast;

var root = new RootCommand("Holdfast: a message broker that never loses a message it has confirmed.");
root.Subcommands.Add(RunCommand.Create());
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
