using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Holdfast.Conformance.Tests.Crash;

/// <summary>
/// What the clients of the broker crash test did and saw, over every cycle: ids published, ids whose
/// confirm (ack) arrived, ids nacked or returned, ids delivered to and acked by the test's consumer,
/// and any delivery that breaks a rule on the spot. Publishers and consumers record from their own
/// threads, so every set is concurrent.
/// </summary>
/// <remarks>
/// An id is <c>CCC.P.SSSSSSS</c>: cycle, publisher connection, sequence number on that connection's
/// channel. The body is the id, a bar, and filler derived from the id, so a damaged or swapped body is seen.
/// </remarks>
internal sealed class CrashLedger
{
    private int _acksSent;

    /// <summary>Every id a publisher was about to publish (recorded before the publish call), with its cycle.</summary>
    public ConcurrentDictionary<string, int> Published { get; } = new(StringComparer.Ordinal);

    /// <summary>Ids whose publisher confirm (basic.ack) arrived: the broker promised to keep them.</summary>
    public ConcurrentDictionary<string, byte> Confirmed { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, byte> Nacked { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, byte> Returned { get; } = new(StringComparer.Ordinal);

    /// <summary>Ids the test's consumer recorded and then acked (the ack may have been lost to the kill): when.</summary>
    public ConcurrentDictionary<string, AckRecord> ConsumerAcked { get; } = new(StringComparer.Ordinal);

    /// <summary>The cycle each id was last delivered to the test's consumer in.</summary>
    public ConcurrentDictionary<string, int> Delivered { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Ids the consumer acked in one cycle and got again in a later one (the cycle it came back in): the ack
    /// did not reach the operating system before the kill. Such an id leaves <see cref="ConsumerAcked"/>.
    /// </summary>
    public ConcurrentDictionary<string, UndoneAck> AcksUndone { get; } = new(StringComparer.Ordinal);

    /// <summary>When each cycle's SIGKILL was sent (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public ConcurrentDictionary<int, long> Kills { get; } = new();

    /// <summary>Every consumer ack recorded, counting an id again when it was acked again after coming back.</summary>
    public int AcksSent => Volatile.Read(ref _acksSent);

    /// <summary>Rules broken on delivery, in the words of the failure message.</summary>
    public ConcurrentQueue<string> Violations { get; } = new();

    public static string Id(int cycle, int publisher, long seq) =>
        string.Create(CultureInfo.InvariantCulture, $"{cycle:D3}.{publisher}.{seq:D7}");

    /// <summary>The publisher channel an id came from and its place in that channel's order.</summary>
    public static (string Channel, long Seq) Parse(string id)
    {
        var last = id.LastIndexOf('.');
        return (id[..last], long.Parse(id.AsSpan(last + 1), CultureInfo.InvariantCulture));
    }

    public static byte[] Body(string id)
    {
        // FNV-1a over the id picks the filler's length and letters: bodies differ in size and content.
        var hash = 2166136261u;
        foreach (var c in id)
        {
            hash = (hash ^ c) * 16777619u;
        }

        var filler = new StringBuilder(id.Length + 1 + (int)(hash % 240)).Append(id).Append('|');
        for (var i = 0; i < hash % 240; i++)
        {
            filler.Append((char)('a' + ((hash >> (i % 24)) + (uint)i) % 26));
        }

        return Encoding.ASCII.GetBytes(filler.ToString());
    }

    /// <summary>Records that the consumer is about to ack <paramref name="id"/> in <paramref name="cycle"/>.</summary>
    public void RecordAck(string id, int cycle)
    {
        ConsumerAcked[id] = new AckRecord(cycle, Stopwatch.GetTimestamp());
        Interlocked.Increment(ref _acksSent);
    }

    /// <summary>A confirmed id the broker must still hold: confirmed, and not acked by our consumer.</summary>
    public bool MustBePresent(string id) => Confirmed.ContainsKey(id) && !ConsumerAcked.ContainsKey(id);

    /// <summary>How many messages the queue must hold at least right now (nothing is delivered yet).</summary>
    public int MustBePresentCount() => Confirmed.Keys.Count(id => !ConsumerAcked.ContainsKey(id));

    /// <summary>
    /// Checks one delivery to the consumer in <paramref name="cycle"/> and records it: it was published,
    /// its body is intact, it was not delivered before in this broker's life (nothing requeues it there),
    /// and if an earlier life delivered it, it comes flagged redelivered.
    /// </summary>
    public void RecordDelivery(int cycle, string? id, bool redelivered, ReadOnlySpan<byte> body)
    {
        if (id is null || !Published.ContainsKey(id))
        {
            Violations.Enqueue($"cycle {cycle}: delivered message id '{id}' was never published");
            return;
        }

        if (!body.SequenceEqual(Body(id)))
        {
            Violations.Enqueue($"cycle {cycle}: {id} delivered with a damaged body ({body.Length} bytes: '{Encoding.ASCII.GetString(body[..Math.Min(body.Length, 40)])}…')");
        }

        if (Delivered.TryGetValue(id, out var last))
        {
            if (last == cycle)
            {
                Violations.Enqueue($"cycle {cycle}: {id} delivered twice by one broker process (never requeued)");
            }
            else if (!redelivered)
            {
                Violations.Enqueue($"cycle {cycle}: {id} was delivered in cycle {last} and again in cycle {cycle} without the redelivered flag");
            }
        }

        // Acked in an earlier life and here again: that ack was lost to the kill, so the message is
        // owed again until acked anew.
        if (ConsumerAcked.TryGetValue(id, out var acked) && acked.Cycle < cycle)
        {
            ConsumerAcked.TryRemove(id, out _);
            var beforeKill = Kills.TryGetValue(acked.Cycle, out var kill) ? Stopwatch.GetElapsedTime(acked.Timestamp, kill) : TimeSpan.Zero;
            AcksUndone[id] = new UndoneAck(acked.Cycle, cycle, beforeKill);
        }

        Delivered[id] = cycle;
    }
}

/// <summary>A consumer ack: the cycle it was sent in and when (<see cref="Stopwatch.GetTimestamp"/>).</summary>
internal readonly record struct AckRecord(int Cycle, long Timestamp);

/// <summary>An ack that did not survive: the cycle it was sent in, the cycle the message came back in, how long before the kill it was sent.</summary>
internal readonly record struct UndoneAck(int AckedIn, int CameBackIn, TimeSpan BeforeKill);
