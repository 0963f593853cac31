namespace Holdfast.Broker.Tests.Semantics;

/// <summary>
/// A return the door fails to send for a reason nobody foresaw (an encoding bug rather than a refusal it names with a
/// <see cref="BrokerException"/>). The exception used to go on as it was: a plain publish threw it up through the door,
/// which killed the connection, and a commit stopped half way, its later messages never published and its acks never
/// settled. Now it is an internal error of the channel: the publish is not confirmed, and a commit finishes first.
/// </summary>
public sealed class ReturnFaultTests
{
    [Fact]
    public async Task A_return_that_fails_with_a_bug_ends_the_publish_with_an_internal_error_and_no_confirm()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        events.Unreturnable = _ => new InvalidOperationException("encoder bug");

        var thrown = Assert.Throws<BrokerException>(() => channel.Publish(BrokerHarness.Message("", "nobody", "unreturnable"), mandatory: true));

        Assert.Equal(BrokerErrorKind.InternalError, thrown.Kind);
        Assert.IsType<InvalidOperationException>(thrown.InnerException);
        Assert.Contains("could not be returned", thrown.Message, StringComparison.Ordinal);
        Assert.Empty(events.Confirms);
    }

    [Fact]
    public async Task In_a_commit_a_return_that_fails_with_a_bug_lets_the_commit_finish_and_then_fails_the_channel()
    {
        var queue = "tx-" + Guid.NewGuid().ToString("N");
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync(queue);
        var (channel, events) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", queue, "to ack"), mandatory: false);
        var got = channel.Get(queue, noAck: false);
        Assert.NotNull(got);

        events.Unreturnable = _ => new ArgumentException("cannot encode");
        channel.SelectTransactions();
        channel.Publish(BrokerHarness.Message("", "nobody", "unreturnable"), mandatory: true);
        channel.Publish(BrokerHarness.Message("", queue, "after"), mandatory: false);
        channel.Ack(got.DeliveryTag, multiple: false);

        await channel.CommitAsync();

        // Everything after the failed return took effect: the later message is in, the ack is settled.
        var target = harness.Vhost.FindQueue(queue)!;
        Assert.Equal(1, target.ReadyCount);
        Assert.Equal(0, target.UnackedCount);
        Assert.Equal(0, channel.UnackedCount);

        // Then the door is told to close the channel, with the fault as an internal error.
        var failure = Assert.Single(events.Failures);
        Assert.Equal(BrokerErrorKind.InternalError, failure.Kind);
        Assert.IsType<ArgumentException>(failure.InnerException);
    }
}
