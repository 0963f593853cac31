using System.Buffers;
using Holdfast.Amqp.Channels;
using Holdfast.Amqp.Codec;

namespace Holdfast.Conformance.Tests.Support;

/// <summary>
/// The broker's channel handlers with a fault a test arms: the next time any channel handles the armed method (for
/// basic.publish, the body frame that completes it), its handler throws before the broker sees it, as a bug nobody
/// foresaw would. Nothing in the broker throws one on purpose (a host observer that throws is contained), so this is how
/// a test reaches the door's answer to one. Each arming faults once.
/// </summary>
internal sealed class FaultingChannelHandlers(IAmqpChannelHandlerFactory inner) : IAmqpChannelHandlerFactory
{
    public const string FaultMessage = "handler fault";

    private readonly Lock _gate = new();
    private AmqpMethodId? _armed;
    private bool _disposeArmed;

    public void Arm(AmqpMethodId method)
    {
        lock (_gate)
        {
            _armed = method;
        }
    }

    /// <summary>The next handler released (by its channel's close or its connection's) throws once it has released its channel.</summary>
    public void ArmDispose()
    {
        lock (_gate)
        {
            _disposeArmed = true;
        }
    }

    public IAmqpChannelHandler Create(AmqpChannelContext context) => new Handler(inner.Create(context), this);

    public ValueTask ConnectionClosedAsync(long connectionId) => inner.ConnectionClosedAsync(connectionId);

    private void FaultIfArmed(AmqpMethodId method)
    {
        lock (_gate)
        {
            if (_armed != method)
            {
                return;
            }

            _armed = null;
        }

        throw new InvalidOperationException(FaultMessage);
    }

    private void FaultDisposeIfArmed()
    {
        lock (_gate)
        {
            if (!_disposeArmed)
            {
                return;
            }

            _disposeArmed = false;
        }

        throw new InvalidOperationException(FaultMessage);
    }

    private sealed class Handler(IAmqpChannelHandler inner, FaultingChannelHandlers faults) : IAmqpChannelHandler
    {
        public ValueTask<ChannelVerdict> HandleMethodAsync(AmqpMethodId method, ReadOnlyMemory<byte> arguments, CancellationToken cancellationToken)
        {
            if (method != AmqpMethodId.BasicPublish)
            {
                faults.FaultIfArmed(method);
            }

            return inner.HandleMethodAsync(method, arguments, cancellationToken);
        }

        public ValueTask<ChannelVerdict> HandleContentHeaderAsync(ContentHeader header, CancellationToken cancellationToken) =>
            inner.HandleContentHeaderAsync(header, cancellationToken);

        public ValueTask<ChannelVerdict> HandleContentBodyAsync(ReadOnlySequence<byte> body, bool isLast, CancellationToken cancellationToken)
        {
            if (isLast)
            {
                faults.FaultIfArmed(AmqpMethodId.BasicPublish);
            }

            return inner.HandleContentBodyAsync(body, isLast, cancellationToken);
        }

        public void AcksHandled() => inner.AcksHandled();

        public async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync().ConfigureAwait(false);
            faults.FaultDisposeIfArmed();
        }
    }
}
