using Holdfast.Amqp.Codec;
using Holdfast.Conformance.Tests.Support;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// A field-table decimal may carry any scale up to 255, and .NET's decimal holds at most 28. A declare argument with
/// such a decimal, in a place where the refusal quotes the value (an x-retry-delays that is no array, an inequivalent
/// redeclare), used to throw while the 406 text was being written: the connection died of an internal error. Now the
/// value is written out from its digits and the refusal is the 406 it always should have been. RabbitMQ.Client 7 sends
/// decimals from .NET decimals, so a raw socket sends these.
/// </summary>
public sealed class DecimalScaleTests
{
    private static FieldValue Tiny(int unscaled) => FieldValue.FromDecimal(new AmqpDecimal(30, unscaled));

    [Fact]
    public async Task An_invalid_argument_holding_a_decimal_of_scale_30_is_refused_with_406_quoting_it()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var raw = await RawChannel.OpenAsync(broker);

        var arguments = new FieldTable(new FieldTableEntry("x-retry-delays", Tiny(-12345)));
        await raw.Socket.SendMethodAsync(RawChannel.Number, new QueueDeclare(0, BrokerKit.Unique("dec"), Passive: false, Durable: false, Exclusive: false, AutoDelete: true, Nowait: false, arguments));

        var close = await raw.ExpectAsync(AmqpMethodId.ChannelClose);
        Assert.True(ChannelClose.TryDecodeArguments(close.Arguments, out var reason, out _));
        Assert.Equal(406, reason.ReplyCode);
        Assert.Contains("-0.000000000000000000000000012345 is not a non-empty array", reason.ReplyText.ToString(), StringComparison.Ordinal);
        await AssertConnectionGoesOnAsync(broker, raw);
    }

    [Fact]
    public async Task A_redeclare_with_another_decimal_of_scale_30_is_inequivalent_with_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var raw = await RawChannel.OpenAsync(broker);
        var queue = BrokerKit.Unique("dec");

        await raw.Socket.SendMethodAsync(RawChannel.Number, new QueueDeclare(0, queue, false, false, false, true, false, new FieldTable(new FieldTableEntry("x-message-ttl", FieldValue.FromInt32(60000)))));
        await raw.ExpectAsync(AmqpMethodId.QueueDeclareOk);
        await raw.Socket.SendMethodAsync(RawChannel.Number, new QueueDeclare(0, queue, false, false, false, true, false, new FieldTable(new FieldTableEntry("x-message-ttl", Tiny(2)))));

        var close = await raw.ExpectAsync(AmqpMethodId.ChannelClose);
        Assert.True(ChannelClose.TryDecodeArguments(close.Arguments, out var reason, out _));
        Assert.Equal(406, reason.ReplyCode);
        Assert.Contains($"inequivalent arg 'x-message-ttl' for queue '{queue}' in vhost '/': received '0.000000000000000000000000000002' but current is '60000'", reason.ReplyText.ToString(), StringComparison.Ordinal);
        await AssertConnectionGoesOnAsync(broker, raw);
    }

    /// <summary>Only the channel closed: the raw connection opens another, and a real client's connection works.</summary>
    private static async Task AssertConnectionGoesOnAsync(InProcessBroker broker, RawChannel raw)
    {
        await raw.Socket.SendMethodAsync(RawChannel.Number, new ChannelCloseOk());
        await raw.Socket.SendMethodAsync(2, new ChannelOpen(ShortString.Empty));
        Assert.Equal(2, (await raw.Socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk)).Channel);
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await BrokerKit.AssertUsableAsync(connection);
    }
}
