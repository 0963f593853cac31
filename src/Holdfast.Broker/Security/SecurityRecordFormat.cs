using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Holdfast.Broker.Security;

/// <summary>
/// How virtual hosts, users and permissions are kept as store metadata. Keys:
/// <c>vhost/{name}</c>, <c>user/{name}</c>, and <c>permission/{vhost length}/{vhost}/{user}</c>, the
/// length (in UTF-16 units, as the topology keys do it) making the key unambiguous although both
/// names may contain <c>/</c>. The key is the record's identity; values, little-endian:
/// <code>
/// vhost:      u8 version 1
/// user:       u8 version 1, u8 hash algorithm, u32 iterations,
///             u8 salt length, salt, u8 hash length, hash, u16 tag count, count × str tag
/// permission: u8 version 1, str configure, str write, str read
/// </code>
/// with str = u16 length + UTF-8. Hash algorithms: 1 = PBKDF2-HMAC-SHA256; imported from RabbitMQ
/// (one pass over a 4-byte salt and the UTF-8 password, iterations 1): 2 = SHA-256, 3 = SHA-512,
/// 4 = MD5; 5 = no password (iterations 0, empty salt and hash). A reader meeting another version
/// or algorithm refuses to start rather than guess:
/// a permission misread is a permission wrongly granted.
/// </summary>
internal static class SecurityRecordFormat
{
    public const byte Version = 1;

    public const string VirtualHostPrefix = "vhost/";
    public const string UserPrefix = "user/";
    public const string PermissionPrefix = "permission/";

    /// <summary>
    /// Present while the first-start defaults are being written; found at load, it means the writing
    /// was cut short and is redone, so a crash then cannot leave a broker with a vhost but no user.
    /// </summary>
    public const string SeedingKey = "security/seeding";

    public static string VirtualHostKey(string name) => VirtualHostPrefix + name;

    public static string UserKey(string name) => UserPrefix + name;

    public static string PermissionKey(string virtualHost, string user) =>
        string.Create(CultureInfo.InvariantCulture, $"{PermissionPrefix}{virtualHost.Length}/{virtualHost}/{user}");

    public static bool TryParsePermissionKey(string key, out string virtualHost, out string user)
    {
        virtualHost = user = string.Empty;
        var rest = key.AsSpan(PermissionPrefix.Length);
        int slash = rest.IndexOf('/');
        if (slash <= 0 || !int.TryParse(rest[..slash], NumberStyles.None, CultureInfo.InvariantCulture, out int length))
        {
            return false;
        }

        rest = rest[(slash + 1)..];
        if (length >= rest.Length || rest[length] != '/')
        {
            return false;
        }

        virtualHost = rest[..length].ToString();
        user = rest[(length + 1)..].ToString();
        return true;
    }

    public static byte[] EncodeVirtualHost() => [Version];

    public static byte[] EncodeUser(IReadOnlyList<string> tags, PasswordHash password)
    {
        var writer = new ArrayBufferWriter<byte>(64);
        WriteByte(writer, Version);
        WriteByte(writer, password.Algorithm);
        BinaryPrimitives.WriteUInt32LittleEndian(writer.GetSpan(4), (uint)password.Iterations);
        writer.Advance(4);
        WriteBytes(writer, password.Salt);
        WriteBytes(writer, password.Hash);
        BinaryPrimitives.WriteUInt16LittleEndian(writer.GetSpan(2), (ushort)tags.Count);
        writer.Advance(2);
        foreach (var tag in tags)
        {
            WriteString(writer, tag);
        }

        return writer.WrittenSpan.ToArray();
    }

    public static byte[] EncodePermissions(string configure, string write, string read)
    {
        var writer = new ArrayBufferWriter<byte>(16);
        WriteByte(writer, Version);
        WriteString(writer, configure);
        WriteString(writer, write);
        WriteString(writer, read);
        return writer.WrittenSpan.ToArray();
    }

    /// <exception cref="InvalidDataException">Another version, or bytes this format does not produce.</exception>
    public static void DecodeVirtualHost(string key, byte[] value)
    {
        var reader = new Reader(key, value);
        reader.Header();
        reader.End();
    }

    /// <exception cref="InvalidDataException">Another version, or bytes this format does not produce.</exception>
    public static (IReadOnlyList<string> Tags, PasswordHash Password) DecodeUser(string key, byte[] value)
    {
        var reader = new Reader(key, value);
        reader.Header();
        byte algorithm = reader.U8();
        uint iterations = reader.U32();
        byte[] salt = reader.Bytes();
        byte[] hash = reader.Bytes();
        var tags = new string[reader.U16()];
        for (int i = 0; i < tags.Length; i++)
        {
            tags[i] = reader.Str();
        }

        reader.End();
        try
        {
            return (tags, PasswordHash.FromStored(algorithm, (int)Math.Min(iterations, int.MaxValue), salt, hash));
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"metadata record '{key}': {ex.Message}", ex);
        }
    }

    /// <exception cref="InvalidDataException">Another version, or bytes this format does not produce.</exception>
    public static (string Configure, string Write, string Read) DecodePermissions(string key, byte[] value)
    {
        var reader = new Reader(key, value);
        reader.Header();
        var decoded = (reader.Str(), reader.Str(), reader.Str());
        reader.End();
        return decoded;
    }

    private static void WriteByte(ArrayBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }

    private static void WriteBytes(ArrayBufferWriter<byte> writer, ReadOnlySpan<byte> bytes)
    {
        WriteByte(writer, checked((byte)bytes.Length));
        writer.Write(bytes);
    }

    private static void WriteString(ArrayBufferWriter<byte> writer, string text)
    {
        // Lengths were checked by SecurityNames before anything reaches here.
        int length = Encoding.UTF8.GetByteCount(text);
        var span = writer.GetSpan(2 + length);
        BinaryPrimitives.WriteUInt16LittleEndian(span, checked((ushort)length));
        Encoding.UTF8.GetBytes(text, span[2..]);
        writer.Advance(2 + length);
    }

    private ref struct Reader(string key, ReadOnlySpan<byte> value)
    {
        private readonly string _key = key;
        private ReadOnlySpan<byte> _rest = value;

        public void Header()
        {
            byte version = U8();
            if (version != Version)
            {
                throw new InvalidDataException(
                    $"metadata record '{_key}' is in format version {version}, but this version of Holdfast reads only version {Version} " +
                    "(was the data directory written by a newer Holdfast?)");
            }
        }

        public byte U8() => Take(1)[0];

        public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

        public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public byte[] Bytes() => Take(U8()).ToArray();

        public string Str() => Encoding.UTF8.GetString(Take(U16()));

        public readonly void End()
        {
            if (!_rest.IsEmpty)
            {
                throw new InvalidDataException($"metadata record '{_key}' has {_rest.Length} unexpected bytes at its end");
            }
        }

        private ReadOnlySpan<byte> Take(int count)
        {
            if (_rest.Length < count)
            {
                throw new InvalidDataException($"metadata record '{_key}' ends early");
            }

            var taken = _rest[..count];
            _rest = _rest[count..];
            return taken;
        }
    }
}
