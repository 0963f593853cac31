namespace Holdfast.Storage.Log;

/// <summary>The header of a record that passed its CRC.</summary>
internal readonly record struct RecordView(RecordType Type, RecordFlags Flags, int PayloadLength)
{
    public int SizeOnDisk => RecordFormat.SizeOnDisk(PayloadLength);
}
