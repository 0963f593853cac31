using System.Diagnostics;

namespace Holdfast.LoadTool;

/// <summary>
/// The disk's raw durable-append rate, the yardstick for group commit: one writer, one
/// <c>pwrite</c> of the record size then one <c>fdatasync</c> per record, appending to a file
/// created the way the engine creates a segment (space reserved with fallocate, length growing
/// with each write, so each sync also persists the new length and the newly used extent). With
/// <see cref="StorageLoadOptions.BaselineIntoWrittenBlocks"/> the file's blocks are written (zeros) and
/// synced first, so each sync persists data only: the cheapest durable append the disk offers, which
/// the engine approaches by zeroing blocks ahead of its data.
/// </summary>
internal static class BaselineFsync
{
    public static StorageResult Run(StorageLoadOptions options, string directory)
    {
        Directory.CreateDirectory(directory);
        var payload = new byte[options.PayloadBytes];
        new Random(1).NextBytes(payload);
        var window = new RunWindow();
        var latency = new LatencyHistogram();
        var fileNumber = 0;
        long offset = 0;
        long records = 0;
        var handle = OpenNext(directory, ref fileNumber, options);
        try
        {
            var warmupEnd = Stopwatch.GetTimestamp() + (long)(options.Warmup.TotalSeconds * Stopwatch.Frequency);
            var before = default(ProcessSample);
            while (true)
            {
                var started = Stopwatch.GetTimestamp();
                if (started >= warmupEnd && window.Start == long.MaxValue)
                {
                    before = ProcessSample.Take();
                    window.Open(before.Timestamp, options.Duration);
                    started = Stopwatch.GetTimestamp();
                }

                if (started >= window.End)
                {
                    break;
                }

                if (offset + payload.Length > options.SegmentSizeBytes)
                {
                    // Roll like the engine does, so the file never wraps onto blocks already allocated.
                    handle.Dispose();
                    handle = OpenNext(directory, ref fileNumber, options);
                    offset = 0;
                }

                RandomAccess.Write(handle, payload, offset);
                NativeSync.DataSync(handle);
                offset += payload.Length;
                var finished = Stopwatch.GetTimestamp();
                if (window.Within(started, finished))
                {
                    latency.Record(finished - started);
                    records++;
                }
            }

            var after = ProcessSample.Take();
            var seconds = options.Duration.TotalSeconds;
            var mibPerS = Math.Round(records * (double)payload.Length / (1024.0 * 1024.0) / seconds, 1);
            return new StorageResult
            {
                Scenario = options.BaselineIntoWrittenBlocks ? "baseline-fsync-written" : "baseline-fsync",
                Policy = "sync",
                Writers = 1,
                InFlight = 1,
                Size = options.PayloadBytes,
                Seconds = seconds,
                Records = records,
                RecordsPerS = Math.Round(records / seconds),
                MibPerS = mibPerS,
                LogMibPerS = mibPerS,
                Fsyncs = records,
                FsyncsPerS = Math.Round(records / seconds, 1),
                RecordsPerFsync = 1,
                AppendLatencyUs = latency.Summarize(),
                CpuPercent = after.CpuPercentSince(before),
                AllocBytesPerRecord = records == 0 ? 0 : Math.Round((after.AllocatedBytes - before.AllocatedBytes) / (double)records, 1),
                Gen0Collections = after.Gen0 - before.Gen0,
                Gen2Collections = after.Gen2 - before.Gen2,
                LockContentionsPerRecord = after.LockContentionsPerRecordSince(before, records),
                SyncCall = NativeSync.CallName,
                Directory = directory,
            };
        }
        finally
        {
            handle.Dispose();
        }
    }

    private static Microsoft.Win32.SafeHandles.SafeFileHandle OpenNext(string directory, ref int fileNumber, StorageLoadOptions options)
    {
        var path = Path.Combine(directory, $"baseline-{fileNumber++:D4}.dat");
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, FileOptions.None, options.SegmentSizeBytes);
        if (options.BaselineIntoWrittenBlocks)
        {
            var zeros = new byte[1 << 20];
            var length = Math.Min(options.SegmentSizeBytes, 256L << 20);
            for (long offset = 0; offset < length; offset += zeros.Length)
            {
                RandomAccess.Write(handle, zeros.AsSpan(0, (int)Math.Min(zeros.Length, length - offset)), offset);
            }

            NativeSync.DataSync(handle);
        }

        return handle;
    }
}
