using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Holdfast.Conformance.Tests.Support;

/// <summary>
/// The in-process broker's logs, keeping only errors: the host logs at Error exactly what it calls a bug (a connection
/// dropped for an internal error, a delivery that failed for no reason the client gave), so a test can fail on them
/// even when every client saw only a closed socket.
/// </summary>
internal sealed class FaultLog : ILoggerFactory
{
    private readonly ConcurrentQueue<string> _faults = new();

    public IReadOnlyCollection<string> Faults => _faults;

    public ILogger CreateLogger(string categoryName) => new Recorder(categoryName, _faults);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Recorder(string category, ConcurrentQueue<string> faults) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                var cause = exception is null ? string.Empty : $" ({exception.GetType().Name}: {exception.Message}; at {exception.StackTrace?.Split('\n').FirstOrDefault()?.Trim()})";
                faults.Enqueue($"{category}: {formatter(state, exception)}{cause}");
            }
        }
    }
}
