using Holdfast.Conformance.Tests.Broker;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Semantics;

/// <summary>
/// Bad TTL / dead-letter / length arguments at queue.declare: RabbitMQ closes the channel with 406 and the text
/// <c>PRECONDITION_FAILED - invalid arg '…' for queue '…' in vhost '/': …</c> (its <c>~p</c> rendering of the reason).
/// </summary>
public sealed class QueueArgumentValidationTests
{
    public static TheoryData<string, object, string> InvalidArguments() => new()
    {
        { "x-message-ttl", -1, "{value_negative,-1}" },
        { "x-message-ttl", "abc", "\"expected integer, got longstr\"" },
        { "x-max-length", "abc", "\"expected integer, got longstr\"" },
        { "x-max-length", -1, "{value_negative,-1}" },
        { "x-max-length-bytes", -5L, "{value_negative,-5}" },
        { "x-overflow", "bogus", "invalid_overflow" },
        { "x-overflow", 5, "{unacceptable_type,signedint}" },
        { "x-expires", 0, "{value_zero,0}" },
        { "x-expires", -1, "{value_negative,-1}" },
        { "x-max-priority", 256, "{max_value_exceeded,256}" },
        { "x-max-priority", -1, "{value_negative,-1}" },
        { "x-max-priority", "high", "\"expected integer, got longstr\"" },
        { "x-single-active-consumer", "yes", "{unacceptable_type,longstr}" },
        { "x-single-active-consumer", 1, "{unacceptable_type,signedint}" },
    };

    [Theory]
    [MemberData(nameof(InvalidArguments))]
    public async Task An_invalid_queue_argument_is_refused_with_406_and_RabbitMQs_text(string argument, object value, string why)
    {
        await using var scope = await SemanticsScope.StartAsync();
        await using var channel = await scope.Connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("badarg");

        await BrokerKit.RefusedAsync(
            () => channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false, arguments: SemanticsScope.Arguments((argument, value))),
            406,
            $"PRECONDITION_FAILED - invalid arg '{argument}' for queue '{queue}' in vhost '/': {why}");

        Assert.False(await scope.Connection.QueueExistsAsync(queue));
        Assert.True(scope.Connection.IsOpen);
    }

    [Fact]
    public async Task A_dead_letter_routing_key_without_a_dead_letter_exchange_is_refused()
    {
        await using var scope = await SemanticsScope.StartAsync();
        await using var channel = await scope.Connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("dlrk-only");

        await BrokerKit.RefusedAsync(
            () => channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false, arguments: SemanticsScope.Arguments(("x-dead-letter-routing-key", "k"))),
            406,
            $"PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '{queue}' in vhost '/': routing_key_but_no_dlx_defined");

        Assert.False(await scope.Connection.QueueExistsAsync(queue));
    }

    [Fact]
    public async Task A_dead_letter_exchange_that_is_not_a_string_is_refused()
    {
        await using var scope = await SemanticsScope.StartAsync();
        await using var channel = await scope.Connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("dlx-int");

        await BrokerKit.RefusedAsync(
            () => channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false, arguments: SemanticsScope.Arguments(("x-dead-letter-exchange", 5))),
            406,
            $"PRECONDITION_FAILED - invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue '{queue}' in vhost '/'");

        Assert.False(await scope.Connection.QueueExistsAsync(queue));
    }

    [Theory]
    [InlineData("x-delivery-limit", 2)]
    [InlineData("x-dead-letter-strategy", "at-least-once")]
    public async Task Quorum_only_arguments_on_a_classic_queue_are_refused_by_RabbitMQ_and_accepted_by_Holdfast(string argument, object value)
    {
        await using var scope = await SemanticsScope.StartAsync();
        await using var channel = await scope.Connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("classic-qq-arg");
        Task Declare() => channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false, arguments: SemanticsScope.Arguments((argument, value)));

        if (scope.IsRabbitMq)
        {
            await BrokerKit.RefusedAsync(Declare, 406, $"PRECONDITION_FAILED - invalid arg '{argument}' for queue '{queue}' in vhost '/' of queue type rabbit_classic_queue");
            Assert.False(await scope.Connection.QueueExistsAsync(queue));
        }
        else
        {
            // Holdfast has one queue implementation, with delivery limits and a dead-letter strategy on all of them.
            await Declare();
            Assert.True(await scope.Connection.QueueExistsAsync(queue));
            await channel.QueueDeleteAsync(queue);
        }
    }

    [Theory]
    [InlineData("sometimes", "invalid_dlx_strategy")]
    [InlineData(1, "{unacceptable_type,signedint}")]
    public async Task A_bad_dead_letter_strategy_is_refused_as_a_quorum_queue_refuses_it(object value, string why)
    {
        await using var scope = await SemanticsScope.StartAsync();
        await using var channel = await scope.Connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("bad-strategy");

        // On a quorum queue, the one RabbitMQ queue type that knows the argument (Holdfast accepts x-queue-type and has one type).
        await BrokerKit.RefusedAsync(
            () => channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: SemanticsScope.Arguments(("x-queue-type", "quorum"), ("x-dead-letter-strategy", value))),
            406,
            $"PRECONDITION_FAILED - invalid arg 'x-dead-letter-strategy' for queue '{queue}' in vhost '/': {why}");

        Assert.False(await scope.Connection.QueueExistsAsync(queue));
    }

    [Fact]
    public async Task Valid_ttl_dead_letter_and_length_arguments_are_accepted_and_compared_on_redeclare()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("ok-dlx", ExchangeType.Fanout);
        var queue = await scope.QueueAsync(
            "ok-args",
            ("x-message-ttl", 1000),
            ("x-dead-letter-exchange", dlx),
            ("x-dead-letter-routing-key", "k"),
            ("x-max-length", 10),
            ("x-overflow", "reject-publish-dlx"));

        await using var channel = await scope.Connection.CreateChannelAsync();
        await BrokerKit.RefusedAsync(
            () => channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false, arguments: SemanticsScope.Arguments(
                ("x-message-ttl", 2000), ("x-dead-letter-exchange", dlx), ("x-dead-letter-routing-key", "k"), ("x-max-length", 10), ("x-overflow", "reject-publish-dlx"))),
            406,
            $"PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '{queue}' in vhost '/': received '2000' but current is '1000'");
    }
}
