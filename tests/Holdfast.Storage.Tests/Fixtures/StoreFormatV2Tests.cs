using System.Buffers.Binary;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Fixtures;

/// <summary>
/// A store written once by format version 2 and committed under <c>Fixtures/store-v2/</c>: every
/// later build must open it and find exactly the content of <see cref="FixtureStore.ExpectedMessages"/>.
/// Written by the same operations as <see cref="StoreFormatV1Tests"/>'s store-v1, with records of
/// version 2 (20-byte header carrying the record's own log position).
/// <para>
/// Never regenerate store-v2. A change to any on-disk format adds store-v3 (bump the fixture name in a
/// new class) and keeps this test, so old stores stay readable.
/// </para>
/// </summary>
public sealed class StoreFormatV2Tests : IDisposable
{
    private const string FixtureName = "store-v2";

    /// <summary>The header of a version 2 record: CRC, length, type, flags, version, position.</summary>
    private const int HeaderSize = 20;

    private readonly TempDirectory _dir = new("holdfast-fixture");

    public void Dispose() => _dir.Dispose();

    /// <remarks>
    /// The same 11 records replayed as store-v1: the larger headers move where segments roll (the log
    /// spans 4 files of 1536, 3040, 5040 and 2112 bytes, against 1448, 3032, 5032 and 1832 for
    /// version 1), but the records after the last checkpoint are the same operations.
    /// </remarks>
    [Fact]
    public Task Store_v2_opens_with_exactly_its_content() =>
        FixtureStore.OpensWithExactlyItsContentAsync(FixtureName, _dir.Path, recordsRecovered: 11);

    /// <summary>
    /// The image really pins version 2: walking each segment file from its start, record by record,
    /// every record's version field (offset 10) is 2, and the records cover the file to its last byte.
    /// </summary>
    [Fact]
    public void Store_v2_segments_hold_only_version_2_records()
    {
        var segments = StoreDirectory.Segments(Path.Combine(AppContext.BaseDirectory, "Fixtures", FixtureName));
        Assert.Equal(4, segments.Count);
        foreach (var segment in segments)
        {
            var bytes = File.ReadAllBytes(segment);
            Assert.True(bytes.Length >= HeaderSize, $"{segment} holds no record");
            var offset = 0;
            while (offset + HeaderSize <= bytes.Length)
            {
                var record = bytes.AsSpan(offset);
                Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(record[10..]));
                offset += (HeaderSize + (int)BinaryPrimitives.ReadUInt32LittleEndian(record[4..]) + 7) & ~7;
            }

            Assert.Equal(bytes.Length, offset);
        }
    }

    [RegenerationFact]
    public Task Generate_store_v2() => FixtureStore.GenerateAsync(FixtureName, _dir.Path);
}
