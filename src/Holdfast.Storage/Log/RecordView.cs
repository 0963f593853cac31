namespace Holdfast.Storage.Log;

/// <summary>The header of a record that passed its checks; its payload starts <see cref="HeaderSize"/> bytes in.</summary>
internal readonly record struct RecordView(RecordType Type, RecordFlags Flags, int PayloadLength, int HeaderSize)
{
    public int SizeOnDisk => RecordFormat.SizeOnDisk(HeaderSize, PayloadLength);
}
