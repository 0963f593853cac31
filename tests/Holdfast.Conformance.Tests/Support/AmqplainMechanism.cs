using System.Buffers.Binary;
using System.Text;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Support;

/// <summary>
/// The AMQPLAIN SASL mechanism, which RabbitMQ.Client 7 does not ship. Its response is the entries of a
/// field table, LOGIN and PASSWORD as long strings ('S'), without the table's 4-byte length: RabbitMQ reads
/// it with <c>rabbit_binary_parser:parse_table</c> on the bare bytes. Encoded by hand rather than with
/// Holdfast's codec, so that a fault in the codec cannot cancel itself out.
/// </summary>
internal sealed class AmqplainMechanism : IAuthMechanism
{
    public Task<byte[]> HandleChallengeAsync(byte[]? challenge, ConnectionConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        var response = new List<byte>();
        AddLongString(response, "LOGIN", config.UserName);
        AddLongString(response, "PASSWORD", config.Password);
        return Task.FromResult(response.ToArray());
    }

    private static void AddLongString(List<byte> table, string name, string value)
    {
        byte[] key = Encoding.UTF8.GetBytes(name);
        byte[] text = Encoding.UTF8.GetBytes(value);
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(length, (uint)text.Length);
        table.Add((byte)key.Length);
        table.AddRange(key);
        table.Add((byte)'S');
        table.AddRange(length.ToArray());
        table.AddRange(text);
    }
}
