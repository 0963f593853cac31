using System.CommandLine;
using Holdfast;

var root = new RootCommand("Holdfast: a message broker that never loses a message it has confirmed.");
root.Subcommands.Add(RunCommand.Create());

// System.CommandLine 2.0 handles SIGINT/SIGTERM only when given a termination timeout (its default is
// none, whatever its docs say): without one the runtime ends the process at once and `run` never closes
// the store. With it, a signal cancels the action's token and waits this long for it to finish.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) };
return await root.Parse(args).InvokeAsync(invocation).ConfigureAwait(false);
