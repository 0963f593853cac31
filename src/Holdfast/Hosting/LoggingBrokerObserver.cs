using System.Collections.Concurrent;
using Holdfast.Broker;
using Holdfast.Broker.Monitoring;
using Microsoft.Extensions.Logging;

namespace Holdfast.Hosting;

/// <summary>
/// Messages the broker kept rather than lost, as warnings: each is something an operator should fix
/// (a missing route, a full queue). A queue of stuck messages retries every 5 s, so each queue or
/// exchange logs at most once a minute, with how many more happened meanwhile; the metrics count all.
/// </summary>
internal sealed partial class LoggingBrokerObserver(ILogger<MessageBroker> logger, TimeProvider time) : IBrokerObserver
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Throttle> _throttles = new(StringComparer.Ordinal);

    public void DeadLetterKept(string virtualHost, string queue, string reason, string why)
    {
        if (ShouldLog($"q/{virtualHost}/{queue}", out var suppressed))
        {
            LogDeadLetterKept(logger, queue, virtualHost, reason, why, suppressed);
        }
    }

    public void DelayedReleaseRefused(string virtualHost, string exchange, string routingKey)
    {
        if (ShouldLog($"x/{virtualHost}/{exchange}", out var suppressed))
        {
            LogDelayedReleaseRefused(logger, exchange, routingKey, virtualHost, suppressed);
        }
    }

    public void DeliveryFailed(string virtualHost, string queue, string consumerTag, Exception exception)
    {
        if (!ShouldLog($"d/{virtualHost}/{queue}", out var suppressed))
        {
            return;
        }

        // A refusal the client caused (its frame-max) is for the operator to know; anything else is a bug.
        if (exception is BrokerException)
        {
            LogDeliveryRefused(logger, queue, virtualHost, consumerTag, exception.Message, suppressed);
        }
        else
        {
            LogDeliveryFailed(logger, exception, queue, virtualHost, consumerTag, suppressed);
        }
    }

    public void GetFailed(string virtualHost, string queue, Exception exception)
    {
        if (!ShouldLog($"g/{virtualHost}/{queue}", out var suppressed))
        {
            return;
        }

        if (exception is BrokerException)
        {
            LogGetRefused(logger, queue, virtualHost, exception.Message, suppressed);
        }
        else
        {
            LogGetFailed(logger, exception, queue, virtualHost, suppressed);
        }
    }

    public void ReturnFailed(string virtualHost, string exchange, string routingKey, Exception exception)
    {
        if (!ShouldLog($"r/{virtualHost}/{exchange}", out var suppressed))
        {
            return;
        }

        if (exception is BrokerException)
        {
            LogReturnRefused(logger, exchange, virtualHost, routingKey, exception.Message, suppressed);
        }
        else
        {
            LogReturnFailed(logger, exception, exchange, virtualHost, routingKey, suppressed);
        }
    }

    public void ArgumentsIgnored(string virtualHost, string queue, string why) =>
        LogArgumentsIgnored(logger, queue, virtualHost, why);

    private bool ShouldLog(string key, out long suppressed)
    {
        var throttle = _throttles.GetOrAdd(key, static _ => new Throttle());
        var now = time.GetTimestamp();
        lock (throttle)
        {
            if (throttle.LastLogged != 0 && time.GetElapsedTime(throttle.LastLogged, now) < Quiet)
            {
                throttle.Suppressed++;
                suppressed = 0;
                return false;
            }

            suppressed = throttle.Suppressed;
            throttle.Suppressed = 0;
            throttle.LastLogged = now;
            return true;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue '{Queue}' in vhost '{VirtualHost}': a dead letter ({Reason}) has no home, {Why}; it stays in the queue and is tried again in 5 s ({Suppressed} more such since the last warning)")]
    private static partial void LogDeadLetterKept(ILogger logger, string queue, string virtualHost, string reason, string why, long suppressed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A delayed message for exchange '{Exchange}', routing key '{RoutingKey}', in vhost '{VirtualHost}' was refused by a full queue; it stays held and is tried again in 5 s ({Suppressed} more such since the last warning)")]
    private static partial void LogDelayedReleaseRefused(ILogger logger, string exchange, string routingKey, string virtualHost, long suppressed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue '{Queue}' in vhost '{VirtualHost}': a delivery to consumer '{ConsumerTag}' was refused, {Why}; the message went back to the queue and the consumer's channel was closed ({Suppressed} more such since the last warning)")]
    private static partial void LogDeliveryRefused(ILogger logger, string queue, string virtualHost, string consumerTag, string why, long suppressed);

    [LoggerMessage(Level = LogLevel.Error, Message = "Queue '{Queue}' in vhost '{VirtualHost}': a delivery to consumer '{ConsumerTag}' failed with an internal error; the message went back to the queue and the consumer's channel was closed ({Suppressed} more such since the last error)")]
    private static partial void LogDeliveryFailed(ILogger logger, Exception exception, string queue, string virtualHost, string consumerTag, long suppressed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue '{Queue}' in vhost '{VirtualHost}': a basic.get answer was refused, {Why}; the message stays in the queue and the channel was closed ({Suppressed} more such since the last warning)")]
    private static partial void LogGetRefused(ILogger logger, string queue, string virtualHost, string why, long suppressed);

    [LoggerMessage(Level = LogLevel.Error, Message = "Queue '{Queue}' in vhost '{VirtualHost}': a basic.get answer failed with an internal error; the message stays in the queue and the channel was closed ({Suppressed} more such since the last error)")]
    private static partial void LogGetFailed(ILogger logger, Exception exception, string queue, string virtualHost, long suppressed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Exchange '{Exchange}' in vhost '{VirtualHost}': an unroutable mandatory message (routing key '{RoutingKey}') could not be returned, {Why}; it was not confirmed and the publisher's channel was closed ({Suppressed} more such since the last warning)")]
    private static partial void LogReturnRefused(ILogger logger, string exchange, string virtualHost, string routingKey, string why, long suppressed);

    [LoggerMessage(Level = LogLevel.Error, Message = "Exchange '{Exchange}' in vhost '{VirtualHost}': returning an unroutable mandatory message (routing key '{RoutingKey}') failed with an internal error; it was not confirmed and the publisher's channel was closed ({Suppressed} more such since the last error)")]
    private static partial void LogReturnFailed(ILogger logger, Exception exception, string exchange, string virtualHost, string routingKey, long suppressed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue '{Queue}' in vhost '{VirtualHost}' runs without an argument it cannot use: {Why}")]
    private static partial void LogArgumentsIgnored(ILogger logger, string queue, string virtualHost, string why);

    private sealed class Throttle
    {
        public long LastLogged { get; set; }

        public long Suppressed { get; set; }
    }
}
