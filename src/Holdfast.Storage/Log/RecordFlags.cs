namespace Holdfast.Storage.Log;

[Flags]
internal enum RecordFlags : byte
{
    None = 0,

    /// <summary>A message record copied forward by compaction: it repoints live entries and never creates new ones.</summary>
    Relocated = 1,

    /// <summary>
    /// A message record that also acks one message of another queue (u32 queue id, i64 seq after the
    /// targets): a move, such as a dead letter leaving its source, happens whole or not at all.
    /// </summary>
    AcksSource = 2,
}
