using Microsoft.Extensions.Hosting;

namespace Holdfast.Hosting;

/// <summary>
/// Leaves signals alone. The generic host's default lifetime traps SIGINT and SIGTERM itself; here
/// the owner decides when to stop (System.CommandLine's cancellation in <c>holdfast run</c>, the
/// test in a test), so that the shutdown order stays ours: listener, connections, then the store.
/// </summary>
internal sealed class EmbeddedHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
