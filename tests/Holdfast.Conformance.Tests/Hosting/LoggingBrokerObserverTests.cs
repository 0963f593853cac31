using System.Collections.Concurrent;
using Holdfast.Broker;
using Holdfast.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Holdfast.Conformance.Tests.Hosting;

/// <summary>Kept messages are logged as warnings, at most once a minute per queue, with the count of those not logged.</summary>
public sealed class LoggingBrokerObserverTests
{
    [Fact]
    public void A_stuck_queue_logs_once_a_minute_with_how_many_more_there_were()
    {
        var clock = new FakeTimeProvider();
        var logger = new CapturingLogger();
        var observer = new LoggingBrokerObserver(logger, clock);

        observer.DeadLetterKept("/", "orders", "expired", "exchange 'dlx' routed it nowhere");
        observer.DeadLetterKept("/", "orders", "expired", "exchange 'dlx' routed it nowhere");
        observer.DeadLetterKept("/", "payments", "rejected", "a target queue is full and refuses it");
        clock.Advance(TimeSpan.FromSeconds(30));
        observer.DeadLetterKept("/", "orders", "expired", "exchange 'dlx' routed it nowhere");
        clock.Advance(TimeSpan.FromSeconds(31));
        observer.DeadLetterKept("/", "orders", "expired", "exchange 'dlx' routed it nowhere");

        Assert.Equal(
            [
                "Warning: Queue 'orders' in vhost '/': a dead letter (expired) has no home, exchange 'dlx' routed it nowhere; it stays in the queue and is tried again in 5 s (0 more such since the last warning)",
                "Warning: Queue 'payments' in vhost '/': a dead letter (rejected) has no home, a target queue is full and refuses it; it stays in the queue and is tried again in 5 s (0 more such since the last warning)",
                "Warning: Queue 'orders' in vhost '/': a dead letter (expired) has no home, exchange 'dlx' routed it nowhere; it stays in the queue and is tried again in 5 s (2 more such since the last warning)",
            ],
            logger.Lines);
    }

    [Fact]
    public void A_get_or_return_that_could_not_be_sent_is_a_warning_when_the_client_caused_it_and_an_error_when_it_is_a_bug()
    {
        var clock = new FakeTimeProvider();
        var logger = new CapturingLogger();
        var observer = new LoggingBrokerObserver(logger, clock);

        observer.GetFailed("/", "orders", new BrokerException(BrokerErrorKind.PreconditionFailed, "message properties of 9000 bytes do not fit"));
        observer.GetFailed("/", "orders", new BrokerException(BrokerErrorKind.PreconditionFailed, "message properties of 9000 bytes do not fit"));
        observer.ReturnFailed("/", "events", "nowhere", new InvalidOperationException("a bug"));

        Assert.Equal(
            [
                "Warning: Queue 'orders' in vhost '/': a basic.get answer was refused, message properties of 9000 bytes do not fit; the message stays in the queue and the channel was closed (0 more such since the last warning)",
                "Error: Exchange 'events' in vhost '/': returning an unroutable mandatory message (routing key 'nowhere') failed with an internal error; it was not confirmed and the publisher's channel was closed (0 more such since the last error)",
            ],
            logger.Lines);
    }

    private sealed class CapturingLogger : Microsoft.Extensions.Logging.ILogger<Holdfast.Broker.MessageBroker>
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public List<string> Lines => [.. _lines];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
    }
}
