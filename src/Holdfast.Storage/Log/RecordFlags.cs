namespace Holdfast.Storage.Log;

[Flags]
internal enum RecordFlags : byte
{
    None = 0,

    /// <summary>A message record copied forward by compaction: it repoints live entries and never creates new ones.</summary>
    Relocated = 1,
}
