namespace Holdfast.Storage.Tests.Model;

/// <summary>A queue as the model knows it: its handle in the current store and its messages by id.</summary>
internal sealed class ModelQueue(string name)
{
    public string Name { get; } = name;

    public StoredQueue? Handle { get; set; }

    /// <summary>The last declare issued for it in this store instance, if any.</summary>
    public ModelOp? Declare { get; set; }

    /// <summary>
    /// The delete issued for it in this store instance, if any: the name is then left alone (not
    /// declared again) until a reopened store shows whether the delete reached the disk.
    /// </summary>
    public ModelOp? Delete { get; set; }

    /// <summary>A reopened store showed it.</summary>
    public bool OnDisk { get; set; }

    public Dictionary<int, ModelCopy> Copies { get; } = [];
}
