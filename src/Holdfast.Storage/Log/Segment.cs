using System.Globalization;
using Holdfast.Storage.Devices;

namespace Holdfast.Storage.Log;

/// <summary>
/// One file of the commit log, named by the log position of its first byte (20 digits), so that a
/// position maps to a file and an offset without any other table.
/// </summary>
internal sealed class Segment(long basePosition, IStorageFile file)
{
    public const string Directory = "log";
    public const string Extension = ".seg";

    public long BasePosition { get; } = basePosition;

    public IStorageFile File { get; } = file;

    /// <summary>Log position just past the last byte written to this segment (maintained by the writer and recovery).</summary>
    public long EndPosition { get; set; } = basePosition;

    /// <summary>References from live queue entries to records in this segment; 0 means nothing here is still needed.</summary>
    public long LiveReferences { get; set; }

    /// <summary>Bytes of records in this segment that some live entry still points at.</summary>
    public long LiveBytes { get; set; }

    public bool Deleted { get; set; }

    /// <summary>
    /// Whether the file may be reused as a spare once dead: true when every record in it carries its
    /// position (begun by this format), false for a segment begun by the positionless version 1.
    /// </summary>
    public bool Recyclable { get; init; }

    public long Length => EndPosition - BasePosition;

    public static string PathFor(long basePosition) =>
        $"{Directory}/{basePosition.ToString("D20", CultureInfo.InvariantCulture)}{Extension}";

    public static bool TryParseName(string fileName, out long basePosition)
    {
        basePosition = 0;
        return fileName.EndsWith(Extension, StringComparison.Ordinal)
            && fileName.Length == 20 + Extension.Length
            && long.TryParse(fileName.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out basePosition);
    }

    public override string ToString() => $"segment {BasePosition} (+{Length} bytes)";
}
