using System.Buffers;
using System.Text;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;

namespace Holdfast.Amqp.Tests.Support;

/// <summary>A client's side of the handshake as bytes, for connections driven over in-memory pipes.</summary>
internal static class ClientHandshake
{
    /// <summary>The protocol header, start-ok (PLAIN), tune-ok (frame-max 128 KiB, no heartbeat) and open.</summary>
    public static void WriteLogin(IBufferWriter<byte> client, string user = "guest", string password = "guest", string virtualHost = "/")
    {
        FrameWriter.WriteProtocolHeader(client);
        FrameWriter.WriteMethod(client, 0, new ConnectionStartOk(FieldTable.Empty, "PLAIN", new LongString(Encoding.UTF8.GetBytes($"\0{user}\0{password}")), "en_US"), 4096);
        FrameWriter.WriteMethod(client, 0, new ConnectionTuneOk(0, 131072, 0), 4096);
        FrameWriter.WriteMethod(client, 0, new ConnectionOpen(virtualHost, ShortString.Empty, false), 4096);
    }
}
