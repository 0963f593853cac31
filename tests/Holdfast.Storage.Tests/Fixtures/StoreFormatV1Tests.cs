using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Fixtures;

/// <summary>
/// A store written once by format version 1 and committed under <c>Fixtures/store-v1/</c>: every
/// later build must open it and find exactly the content of <see cref="FixtureStore.ExpectedMessages"/>.
/// The image is what a crash left: two checkpoints (so both checkpoint files exist), then records after
/// the second one, which recovery replays. 4 KiB segments so the log spans several files, one record
/// larger than a segment. Its records are version 1 (12-byte header, no position).
/// <para>
/// Never regenerate store-v1, even though version 2 has replaced it: builds must still read stores
/// that version 1 wrote. <see cref="StoreFormatV2Tests"/> pins the next version the same way.
/// </para>
/// </summary>
public sealed class StoreFormatV1Tests : IDisposable
{
    private const string FixtureName = "store-v1";

    private readonly TempDirectory _dir = new("holdfast-fixture");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public Task Store_v1_opens_with_exactly_its_content() =>
        FixtureStore.OpensWithExactlyItsContentAsync(FixtureName, _dir.Path, recordsRecovered: 11);

    [RegenerationFact]
    public Task Generate_store_v1() => FixtureStore.GenerateAsync(FixtureName, _dir.Path);
}
