using Holdfast.Broker.Sessions;

namespace Holdfast.Broker.Tests.Output;

/// <summary>
/// A send batch: sends asked for on its thread while it is open wait for its end and then run on the thread that ends
/// it, once each; sends set off while it ends join it; outside a batch, or on another thread, nothing is deferred; a
/// batch ended on another thread than it was opened on still sends everything and leaves nothing deferred behind.
/// </summary>
public sealed class SendBatchTests
{
    [Fact]
    public void Outside_a_batch_nothing_is_deferred()
    {
        var send = new CountingSend();
        OnOwnThread(() =>
        {
            Assert.False(SendBatch.TryDefer(send));
            var batch = new SendBatch();
            batch.Begin();
            batch.End();
            Assert.False(SendBatch.TryDefer(send));
        });

        Assert.Equal(0, send.Sent);
    }

    [Fact]
    public void A_deferred_send_runs_once_when_the_batch_ends_on_the_thread_that_ends_it()
    {
        var first = new CountingSend();
        var second = new CountingSend();
        int thread = 0;
        OnOwnThread(() =>
        {
            var batch = new SendBatch();
            batch.Begin();
            Assert.True(SendBatch.TryDefer(first));
            Assert.True(SendBatch.TryDefer(second));
            Assert.True(SendBatch.TryDefer(first));
            Assert.Equal(0, first.Sent + second.Sent);

            batch.End();
            thread = Environment.CurrentManagedThreadId;
            batch.End();
        });

        Assert.Equal(1, first.Sent);
        Assert.Equal(1, second.Sent);
        Assert.Equal(thread, first.Thread);
    }

    [Fact]
    public void Opening_twice_is_refused()
    {
        OnOwnThread(() =>
        {
            var batch = new SendBatch();
            batch.Begin();
            Assert.Throws<InvalidOperationException>(batch.Begin);
            batch.End();
        });
    }

    [Fact]
    public void Inside_an_open_batch_the_threads_own_batch_is_not_opened_and_sends_join_the_outer_one()
    {
        var send = new CountingSend();
        OnOwnThread(() =>
        {
            var outer = new SendBatch();
            outer.Begin();
            Assert.Null(SendBatch.OpenOnThisThread());
            Assert.True(SendBatch.TryDefer(send));
            Assert.Equal(0, send.Sent);
            outer.End();
            Assert.Equal(1, send.Sent);

            var own = SendBatch.OpenOnThisThread();
            Assert.NotNull(own);
            Assert.True(SendBatch.TryDefer(send));
            own.End();
            Assert.Equal(2, send.Sent);
            Assert.False(SendBatch.TryDefer(send));
        });
    }

    [Fact]
    public void The_threads_own_batch_is_not_opened_twice_when_a_batch_above_it_was_ended_elsewhere()
    {
        OnOwnThread(() =>
        {
            var own = SendBatch.OpenOnThisThread();
            Assert.NotNull(own);

            // A connection's batch opened here and ended on another thread leaves this thread pointing at it, closed.
            var connection = new SendBatch();
            connection.Begin();
            OnOwnThread(connection.End);

            Assert.Null(SendBatch.OpenOnThisThread());
            own.End();
            Assert.False(SendBatch.TryDefer(new CountingSend()));
        });
    }

    [Fact]
    public void A_send_set_off_by_another_while_the_batch_ends_goes_out_before_the_end_returns()
    {
        var later = new CountingSend();
        var first = new CountingSend(() => Assert.True(SendBatch.TryDefer(later)));
        OnOwnThread(() =>
        {
            var batch = new SendBatch();
            batch.Begin();
            SendBatch.TryDefer(first);
            batch.End();
            Assert.Equal(1, later.Sent);
            Assert.False(SendBatch.TryDefer(later));
        });

        Assert.Equal(1, first.Sent);
        Assert.Equal(1, later.Sent);
    }

    [Fact]
    public void A_batch_open_on_one_thread_defers_nothing_on_another()
    {
        var send = new CountingSend();
        var batch = new SendBatch();
        OnOwnThread(batch.Begin);
        OnOwnThread(() => Assert.False(SendBatch.TryDefer(send)));
        OnOwnThread(batch.End);
        Assert.Equal(0, send.Sent);
    }

    [Fact]
    public void A_batch_ended_on_another_thread_sends_from_there_and_its_opening_thread_stops_deferring()
    {
        var held = new CountingSend();
        var afterwards = new CountingSend();
        var batch = new SendBatch();
        using var deferred = new ManualResetEventSlim();
        using var ended = new ManualResetEventSlim();
        bool deferredHeld = false;
        bool deferredAfterwards = true;
        var opener = new Thread(() =>
        {
            batch.Begin();
            deferredHeld = SendBatch.TryDefer(held);
            deferred.Set();
            ended.Wait(TimeSpan.FromSeconds(30));

            // This thread still points at the batch, which another thread has closed.
            deferredAfterwards = SendBatch.TryDefer(afterwards);
        });
        opener.Start();

        int endedOn = 0;
        OnOwnThread(() =>
        {
            Assert.True(deferred.Wait(TimeSpan.FromSeconds(30)));
            batch.End();
            endedOn = Environment.CurrentManagedThreadId;
        });
        ended.Set();
        opener.Join();

        Assert.True(deferredHeld);
        Assert.Equal(1, held.Sent);
        Assert.Equal(endedOn, held.Thread);
        Assert.False(deferredAfterwards);
        Assert.Equal(0, afterwards.Sent);
    }

    [Fact]
    public void When_a_send_throws_the_batch_closes_and_the_rest_are_handed_to_the_pool()
    {
        var failing = new CountingSend(() => throw new InvalidOperationException("boom"));
        var other = new CountingSend();
        OnOwnThread(() =>
        {
            var batch = new SendBatch();
            batch.Begin();
            SendBatch.TryDefer(other);
            SendBatch.TryDefer(failing);
            Assert.Throws<InvalidOperationException>(batch.End);
            Assert.False(SendBatch.TryDefer(other));
        });

        Assert.Equal(1, failing.Sent);
        Assert.Equal(0, other.Sent);
        Assert.Equal(1, other.SentSoon);
    }

    /// <summary>Batches are per thread: each test's batch lives on a thread of its own, so none is left open on a pool thread.</summary>
    private static void OnOwnThread(Action body)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                body();
            }
#pragma warning disable CA1031 // Rethrown on the test's thread below.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failure = ex;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException("the batch's thread failed", failure);
        }
    }

    private sealed class CountingSend(Action? onSend = null) : IDeferredSend
    {
        public int Sent { get; private set; }

        public int SentSoon { get; private set; }

        public int Thread { get; private set; }

        public void SendNow()
        {
            Sent++;
            Thread = Environment.CurrentManagedThreadId;
            onSend?.Invoke();
        }

        public void SendSoon() => SentSoon++;
    }
}
