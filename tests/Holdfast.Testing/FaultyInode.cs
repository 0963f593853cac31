namespace Holdfast.Testing;

/// <summary>
/// One file's contents, apart from the names it is linked under: the durable image, the changes made
/// since the last fsync (in order), and the current image (durable plus those changes), which is what
/// reads see. Callers hold the disk's lock.
/// </summary>
internal sealed class FaultyInode
{
    public FaultyImage Durable { get; private set; } = new();

    public FaultyImage Current { get; private set; } = new();

    public List<UnsyncedWrite> Unsynced { get; } = [];

    /// <summary>Space the file holds on the volume: a high-water mark of what was written or preallocated.</summary>
    public long Allocated { get; set; }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        var change = UnsyncedWrite.Write(offset, data.ToArray());
        Current.Apply(change);
        Unsynced.Add(change);
    }

    public void SetLength(long length)
    {
        var change = UnsyncedWrite.SetLength(length);
        Current.Apply(change);
        Unsynced.Add(change);
    }

    /// <summary>A successful fsync: everything unsynced becomes durable.</summary>
    public void Sync()
    {
        foreach (var change in Unsynced)
        {
            Durable.Apply(change);
        }

        Unsynced.Clear();
    }

    /// <summary>A failed fsync, as Linux reports it: the dirty pages are dropped and the image is what was last synced.</summary>
    public void DropUnsynced()
    {
        Current = Durable.Clone();
        Unsynced.Clear();
    }

    /// <summary>A crash: the durable image plus what <paramref name="kept"/> says survived becomes the whole file.</summary>
    public void Crash(KeptWrites kept)
    {
        if (kept.Count < 0 || kept.Count > Unsynced.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(kept), kept, $"The file has {Unsynced.Count} unsynced writes.");
        }

        for (var i = 0; i < kept.Count; i++)
        {
            var change = Unsynced[i];
            var torn = i == kept.Count - 1 && kept.TornAtByte is { } at ? Math.Clamp(at, 0, change.Length) : change.Length;
            Durable.Apply(change, torn);
        }

        Unsynced.Clear();
        Current = Durable.Clone();
        Allocated = Math.Max(Allocated, Current.Length);
    }

    public void FlipBit(long offset, int bit)
    {
        Current.FlipBit(offset, bit);
        if (offset < Durable.Length)
        {
            Durable.FlipBit(offset, bit);
        }
    }
}
