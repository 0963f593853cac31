using Holdfast.Conformance.Tests.Support;
using Holdfast.Hosting;
using Holdfast.Storage;
using Holdfast.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Hosting;

/// <summary>
/// The commit log's segment size, how many dead segment files are kept for reuse, how much of the log stays in the
/// page cache and how far it is written ahead of an fsync before writeback starts (<c>Storage:SegmentSizeBytes</c>,
/// <c>Storage:SpareSegmentFiles</c>, <c>Storage:PageCacheLogBytes</c>, <c>Storage:WriteBehindBytes</c>) and whether
/// its writes bypass the page cache (<c>Storage:DirectWrites</c>) reach the store, and a bad value is refused by name.
/// </summary>
public sealed class StorageConfigurationTests : IDisposable
{
    private readonly TempDirectory _dir = new("holdfast-storage-config");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Without_settings_segments_are_1_GiB_and_two_spares_are_kept()
    {
        var options = HoldfastConfiguration.ToServerOptions(HoldfastConfiguration.Build(null, new Dictionary<string, string?>()));

        Assert.Equal(StoreOptions.DefaultSegmentSizeBytes, options.Store.SegmentSizeBytes);
        Assert.Equal(2, options.Store.SpareSegmentFiles);
        Assert.Equal(256L << 20, options.Store.PageCacheLogBytes);
        Assert.Equal(4L << 20, options.Store.WriteBehindBytes);
        Assert.False(options.Store.DirectWrites);
    }

    [Fact]
    public void Direct_writes_are_turned_on_by_name()
    {
        var configuration = HoldfastConfiguration.Build(null, new Dictionary<string, string?> { ["Storage:DirectWrites"] = "true" });

        Assert.True(HoldfastConfiguration.ToServerOptions(configuration).Store.DirectWrites);
    }

    [Theory]
    [InlineData("off", null)]
    [InlineData("0", 0L)]
    [InlineData("1048576", 1048576L)]
    public void The_page_cache_window_is_a_size_or_off(string value, long? expected)
    {
        var configuration = HoldfastConfiguration.Build(null, new Dictionary<string, string?> { ["Storage:PageCacheLogBytes"] = value });

        Assert.Equal(expected, HoldfastConfiguration.ToServerOptions(configuration).Store.PageCacheLogBytes);
    }

    [Theory]
    [InlineData("off", null)]
    [InlineData("65536", 65536L)]
    public void Write_behind_is_a_step_or_off(string value, long? expected)
    {
        var configuration = HoldfastConfiguration.Build(null, new Dictionary<string, string?> { ["Storage:WriteBehindBytes"] = value });

        Assert.Equal(expected, HoldfastConfiguration.ToServerOptions(configuration).Store.WriteBehindBytes);
    }

    [Theory]
    [InlineData("Storage:SegmentSizeBytes", "1000")]
    [InlineData("Storage:SegmentSizeBytes", "big")]
    [InlineData("Storage:SpareSegmentFiles", "-1")]
    [InlineData("Storage:PageCacheLogBytes", "-1")]
    [InlineData("Storage:PageCacheLogBytes", "none")]
    [InlineData("Storage:WriteBehindBytes", "0")]
    [InlineData("Storage:WriteBehindBytes", "4095")]
    [InlineData("Storage:DirectWrites", "yes")]
    public void A_setting_out_of_range_is_refused_by_name(string key, string value)
    {
        var configuration = HoldfastConfiguration.Build(null, new Dictionary<string, string?> { [key] = value });

        var error = Assert.Throws<FormatException>(() => HoldfastConfiguration.ToServerOptions(configuration));
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_configured_segment_size_is_what_the_broker_rolls_its_log_at()
    {
        var data = Path.Combine(_dir.Path, "data");
        var configuration = HoldfastConfiguration.Build(null, new Dictionary<string, string?>
        {
            ["DataDir"] = data,
            ["Amqp:Port"] = "0",
            ["Storage:SegmentSizeBytes"] = (1 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        await using var server = await HoldfastServer.StartAsync(HoldfastConfiguration.ToServerOptions(configuration), NullLoggerFactory.Instance, CancellationToken.None);

        await using var connection = await LoopbackClient.Factory(server.AmqpEndPoint.Port, TimeSpan.FromSeconds(5)).CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync("segments", durable: true, exclusive: false, autoDelete: false);
        var body = new byte[64 * 1024];
        for (var i = 0; i < 40; i++)
        {
            await channel.BasicPublishAsync(string.Empty, "segments", mandatory: false, new BasicProperties { Persistent = true }, body);
        }

        // 2.5 MiB of persistent bodies in 1 MiB segments: at least three files, none larger than a segment.
        var segments = Directory.GetFiles(Path.Combine(data, "log"), "*.seg");
        Assert.True(segments.Length >= 3, $"{segments.Length} segment files");
        Assert.All(segments, path => Assert.True(new FileInfo(path).Length <= 1 << 20));
    }
}
