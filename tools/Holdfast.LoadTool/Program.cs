using System.CommandLine;
using Holdfast.LoadTool;
using Holdfast.LoadTool.Amqp;

// The storage verbs host the engine in this process: run it as the broker does (src/Holdfast/Holdfast.csproj), with
// thread-pool workers that sleep at once instead of spinning, or the tool measures a runtime setting, not the engine.
// Set before the thread pool starts, which reads it once. The AMQP verbs are a client and keep the default.
if (args is ["storage" or "recovery", ..])
{
    AppContext.SetData("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", 0);
}

var root = new RootCommand("Holdfast load tool: drives the storage engine, or a broker over AMQP, and prints one JSON line per measurement.");
root.Subcommands.Add(StorageCommand.Create());
root.Subcommands.Add(RecoveryCommand.Create());
root.Subcommands.Add(AmqpCommand.Create());
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
