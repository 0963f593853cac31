using System.Buffers.Binary;
using System.Text;

namespace Holdfast.Amqp.Tests.Support;

/// <summary>
/// Golden bytes written straight from the 0-9-1 spec's rules (big-endian; short string = length
/// octet + bytes; long string = u32 length + bytes; table = u32 byte length + entries; frame =
/// type, channel, size, payload, 0xCE), independently of the codec under test.
/// </summary>
internal static class Wire
{
    public static byte[] Hex(string hex)
    {
        string digits = new(hex.Where(Uri.IsHexDigit).ToArray());
        return Convert.FromHexString(digits);
    }

    public static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    public static byte[] Octet(byte value) => [value];

    public static byte[] U16(ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
        return bytes;
    }

    public static byte[] U32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    public static byte[] U64(ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        return bytes;
    }

    public static byte[] ShortStr(string text) => Concat([(byte)Encoding.UTF8.GetByteCount(text)], Encoding.UTF8.GetBytes(text));

    public static byte[] LongStr(string text) => Concat(U32((uint)Encoding.UTF8.GetByteCount(text)), Encoding.UTF8.GetBytes(text));

    /// <summary>A table: u32 length of the entries, then the entries.</summary>
    public static byte[] Table(params byte[][] entries)
    {
        byte[] body = Concat(entries);
        return Concat(U32((uint)body.Length), body);
    }

    /// <summary>One table entry: short-string name, type octet, value bytes.</summary>
    public static byte[] Entry(string name, char type, params byte[][] value) => Concat(ShortStr(name), [(byte)type], Concat(value));

    public static byte[] Frame(byte type, ushort channel, params byte[][] payload)
    {
        byte[] body = Concat(payload);
        return Concat([type], U16(channel), U32((uint)body.Length), body, [0xCE]);
    }

    public static byte[] MethodFrame(ushort channel, ushort classId, ushort methodId, params byte[][] arguments) =>
        Frame(1, channel, Concat(U16(classId), U16(methodId), Concat(arguments)));

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
