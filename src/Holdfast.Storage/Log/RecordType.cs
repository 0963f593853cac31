namespace Holdfast.Storage.Log;

/// <summary>What a commit-log record carries. The numbers are on disk: never reuse or renumber one.</summary>
internal enum RecordType : byte
{
    /// <summary>A message body with the queues it was routed to: u16 n, n × (u32 queue id, u64 seq), body.</summary>
    Message = 1,

    /// <summary>u32 queue id, u32 n, n × u64 seq.</summary>
    Ack = 2,

    /// <summary>u32 queue id, u64 seq: the message goes back to ready with one more delivery counted.</summary>
    Requeue = 3,

    /// <summary>u32 queue id, u64 up-to seq (exclusive), u32 n, n × u64 seq kept (delivered, awaiting ack).</summary>
    Purge = 4,

    /// <summary>u32 queue id, u16 name length, UTF-8 name.</summary>
    QueueCreate = 5,

    /// <summary>u32 queue id.</summary>
    QueueDelete = 6,

    /// <summary>u16 key length, UTF-8 key, i64 offset.</summary>
    Offset = 7,

    /// <summary>u16 key length, UTF-8 key, u32 value length, value.</summary>
    MetadataPut = 8,

    /// <summary>u16 key length, UTF-8 key.</summary>
    MetadataDelete = 9,
}
