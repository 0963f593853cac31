namespace Holdfast.Storage.Tests.Model;

/// <summary>
/// What the model knows of one message in one queue since the store was last opened: how it got
/// there, what was done to it, and what the store must, may or must not show after a crash.
/// </summary>
internal sealed class ModelCopy(int id, long seq, ModelOp append)
{
    public int Id { get; } = id;

    /// <summary>Its sequence number in the queue, as this store instance knows it.</summary>
    public long Seq { get; private set; } = seq;

    /// <summary>The append that made it; null once a reopened store showed it (it is on disk).</summary>
    public ModelOp? Append { get; private set; } = append;

    /// <summary>Delivery count the last reopened store showed (0 for a new message).</summary>
    public int BaseDeliveryCount { get; private set; }

    public List<ModelOp> Requeues { get; } = [];

    public List<ModelRemoval> Removals { get; } = [];

    /// <summary>Handed out by TryReadNext, with no ack or requeue issued since.</summary>
    public bool Delivered { get; set; }

    /// <summary>The requeue issued since the last delivery, if any.</summary>
    public ModelOp? PendingRequeue { get; set; }

    /// <summary>The ack issued since the last delivery, if any.</summary>
    public ModelOp? Ack { get; set; }

    /// <summary>A reopened store showed it: what happened before is settled.</summary>
    public void Observed(long seq, int deliveryCount)
    {
        Seq = seq;
        Append = null;
        BaseDeliveryCount = deliveryCount;
        Requeues.Clear();
        Removals.Clear();
        Delivered = false;
        PendingRequeue = null;
        Ack = null;
    }

    public string History() =>
        $"message {Id} seq {Seq} (base count {BaseDeliveryCount}; append {Append?.ToString() ?? "on disk"}; " +
        $"requeues [{string.Join(", ", Requeues)}]; removals [{string.Join(", ", Removals.Select(r => $"{r.Op}{(r.Certain ? string.Empty : "?")}"))}])";
}
