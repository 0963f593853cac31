using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Amqp.Tests.Support;
using Xunit.Abstractions;

namespace Holdfast.Amqp.Tests;

/// <summary>
/// Valid client traffic, mutated at random: the codec must parse it or report a protocol error,
/// and never throw. The seed is printed and is in every failure message, so a failure replays with
/// HOLDFAST_FUZZ_SEED=n.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int Iterations = 10_000;

    [Fact]
    public void Mutated_frame_streams_parse_or_report_a_protocol_error()
    {
        int seed = Environment.GetEnvironmentVariable("HOLDFAST_FUZZ_SEED") is { } text ? int.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : 1_000_003;
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        // A short body, so that most mutations land in methods and headers rather than in payload bytes.
        byte[] valid = SampleStream.ClientBytes(bodyLength: 40);
        var outcomes = new Dictionary<string, int>();

        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            byte[] mutated = Mutate(valid, random);
            int[] cuts = Enumerable.Range(0, random.Next(0, 4)).Select(_ => random.Next(0, mutated.Length + 1)).Distinct().ToArray();
            try
            {
                string outcome = ParseEverything(Segments.Split(mutated, cuts));
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
            catch (Exception exception)
            {
                throw new InvalidOperationException($"seed {seed}, iteration {iteration}: {Convert.ToHexString(mutated)}", exception);
            }
        }

        foreach (var (outcome, count) in outcomes.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"{outcome}: {count}");
        }

        // The mutations must reach every decoder, not just bounce off the frame header.
        Assert.True(outcomes.GetValueOrDefault("clean") > 0);
        Assert.True(outcomes.GetValueOrDefault("frame: FRAME_ERROR") > 0);
        Assert.True(outcomes.GetValueOrDefault("method: FRAME_ERROR") > 0);
        Assert.True(outcomes.GetValueOrDefault("method: COMMAND_INVALID") > 0);
        Assert.True(outcomes.GetValueOrDefault("content header: FRAME_ERROR") > 0);
    }

    [Fact]
    public void Random_bytes_as_a_field_table_decode_or_fail_cleanly()
    {
        var random = new Random(77);
        var buffer = new byte[64];
        for (int iteration = 0; iteration < 20_000; iteration++)
        {
            random.NextBytes(buffer);

            // Keep the lengths plausible often enough to get past the first check.
            if (random.Next(2) == 0)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(buffer, (uint)random.Next(0, 61));
            }

            if (FieldTable.TryDecode(buffer, out var table, out _, out _))
            {
                var encoded = new byte[table.EncodedLength];
                table.WriteTo(encoded);
                Assert.Equal(buffer.AsSpan(0, encoded.Length).ToArray(), encoded);
            }
        }
    }

    /// <summary>Everything a door would do with the bytes: header, frames, method and content header decoding.</summary>
    private static string ParseEverything(ReadOnlySequence<byte> bytes)
    {
        var input = new SequenceReader<byte>(bytes);
        if (ProtocolHeader.TryRead(ref input) != ProtocolHeaderStatus.Accepted)
        {
            return "header refused";
        }

        var scratch = new byte[SampleStream.FrameMax];
        while (true)
        {
            var status = FrameReader.TryReadFrame(ref input, SampleStream.FrameMax, out var frame, out var error);
            if (status == FrameReadStatus.NeedMoreData)
            {
                return input.End ? "clean" : "need more";
            }

            if (status == FrameReadStatus.Error)
            {
                return Outcome("frame", error);
            }

            var payload = frame.GetContiguousPayload(scratch);
            if (frame.Type == FrameType.Method && !AmqpMethodDecoder.TryDecode(payload, out _, out error))
            {
                return Outcome("method", error);
            }

            if (frame.Type == FrameType.Header && !ContentHeader.TryDecode(payload, out _, out error))
            {
                return Outcome("content header", error);
            }
        }
    }

    private static string Outcome(string where, AmqpError error)
    {
        Assert.False(string.IsNullOrEmpty(error.Reason));
        Assert.True(Enum.IsDefined(error.Code));
        return $"{where}: {ReplyCodes.Name(error.Code)}";
    }

    private static byte[] Mutate(byte[] valid, Random random)
    {
        var bytes = valid.ToList();
        int mutations = random.Next(1, 4);
        for (int i = 0; i < mutations; i++)
        {
            int at = random.Next(8, bytes.Count);
            switch (random.Next(5))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    bytes.RemoveRange(at, Math.Min(random.Next(1, 16), bytes.Count - at));
                    break;
                case 3:
                    bytes.InsertRange(at, Enumerable.Range(0, random.Next(1, 8)).Select(_ => (byte)random.Next(256)));
                    break;
                default:
                    // Interesting values where lengths and counts live.
                    bytes[at] = (byte)(random.Next(2) == 0 ? 0xFF : 0x00);
                    break;
            }
        }

        return [.. bytes];
    }
}
