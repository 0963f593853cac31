using Holdfast.Conformance.Tests.Support;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// The door reports to the host's connection observer from its teardown path. A report that threw there (a log
/// provider that fails: Microsoft.Extensions.Logging rethrows) skipped the release of the connection's other channels,
/// and a message delivered on one of them stayed unacked, out of everyone's reach, until a restart.
/// </summary>
public sealed class ThrowingConnectionLogTests
{
    [Fact]
    public async Task A_log_that_throws_while_a_connection_closes_does_not_keep_its_channels_messages_out()
    {
        FaultingChannelHandlers? handlers = null;
        await using var broker = await InProcessBroker.StartAsync(logs: new ThrowingLog(), wrapHandlers: inner => handlers = new FaultingChannelHandlers(inner));
        if (broker.IsExternal)
        {
            return;
        }

        string queue;
        await using (var connection = await broker.Factory().CreateConnectionAsync())
        {
            // Channel 1's handler, released first, throws; the log then throws reporting that.
            await using var first = await connection.CreateChannelAsync();
            await using var consuming = await connection.CreateChannelAsync();
            queue = await consuming.DeclareQueueAsync("held");
            await consuming.PublishAsync("", queue, "kept");
            var got = await consuming.BasicGetAsync(queue, autoAck: false);
            Assert.NotNull(got);

            // Closed with the delivery unacked: the broker must put it back.
            handlers!.ArmDispose();
            await connection.CloseAsync();
        }

        await using var again = await broker.Factory().CreateConnectionAsync();
        await using var channel = await again.CreateChannelAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        BasicGetResult? back;
        while ((back = await channel.BasicGetAsync(queue, autoAck: true)) is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.True(back is not null, "the unacked message is back in its queue once its connection closed");
        Assert.Equal("kept", System.Text.Encoding.UTF8.GetString(back!.Body.Span));
        Assert.True(back.Redelivered);
    }

    /// <summary>A logger factory whose loggers throw on every error they are given, as a failing provider makes them.</summary>
    private sealed class ThrowingLog : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => new Thrower();

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Thrower : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    throw new InvalidOperationException("the log is broken");
                }
            }
        }
    }
}
