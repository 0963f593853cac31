using Holdfast.Storage.Log;

namespace Holdfast.Storage.Recovery;

internal delegate void RecordHandler(long position, RecordView record, ReadOnlySpan<byte> payload);
