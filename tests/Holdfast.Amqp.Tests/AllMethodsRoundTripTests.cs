using System.Buffers;
using System.Reflection;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;

namespace Holdfast.Amqp.Tests;

/// <summary>
/// Every generated method, filled with random values through its constructor, survives encode then
/// decode. Golden tests pin the bytes of a few; this one covers the bit packing and field order of
/// all of them.
/// </summary>
public sealed class AllMethodsRoundTripTests
{
    public static TheoryData<string> MethodTypes()
    {
        var data = new TheoryData<string>();
        foreach (var type in AllMethodTypes())
        {
            data.Add(type.Name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(MethodTypes))]
    public void Random_values_round_trip(string typeName)
    {
        var type = AllMethodTypes().Single(t => t.Name == typeName);
        var random = new Random(typeName.Length * 7919);
        var encode = typeof(AllMethodsRoundTripTests).GetMethod(nameof(EncodeFrame), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(type);

        for (int i = 0; i < 20; i++)
        {
            // A method without arguments has only the implicit parameterless constructor.
            var constructor = type.GetConstructors().MaxBy(c => c.GetParameters().Length);
            object method = constructor is null
                ? Activator.CreateInstance(type)!
                : constructor.Invoke(constructor.GetParameters().Select(p => RandomValue(p.ParameterType, random)).ToArray());

            var frame = (byte[])encode.Invoke(null, [method])!;
            var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(frame));
            Assert.Equal(FrameReadStatus.Frame, FrameReader.TryReadFrame(ref input, 131072, out var read, out _));
            Assert.True(AmqpMethodDecoder.TryDecode(read.Payload.ToArray(), out var decoded, out var error), error.Reason);

            Assert.Equal(method, decoded);
            Assert.Equal(((IAmqpMethod)method).Id, decoded.Id);
            Assert.Equal(AmqpMethodInfo.ClassIdOf(decoded.Id), (ushort)(frame[7] << 8 | frame[8]));
        }
    }

    [Fact]
    public void Method_ids_and_names_agree_with_the_spec()
    {
        Assert.Equal(0x003C0028u, (uint)AmqpMethodId.BasicPublish);
        Assert.Equal("exchange.unbind-ok", AmqpMethodInfo.Name(AmqpMethodId.ExchangeUnbindOk));
        Assert.Equal(51, AmqpMethodInfo.MethodIndexOf(AmqpMethodId.ExchangeUnbindOk));
        Assert.Equal(85, (int)AmqpClassId.Confirm);
        Assert.True(AmqpMethodInfo.HasContent(AmqpMethodId.BasicGetOk));
        Assert.False(AmqpMethodInfo.HasContent(AmqpMethodId.BasicGetEmpty));
        Assert.True(AmqpMethodInfo.IsSynchronous(AmqpMethodId.QueueDeclare));
        Assert.False(AmqpMethodInfo.IsSynchronous(AmqpMethodId.BasicAck));
        Assert.Equal("FRAME_ERROR", ReplyCodes.Name(ReplyCode.FrameError));
        Assert.Equal(501, (int)ReplyCode.FrameError);
        Assert.True(ReplyCodes.IsHardError(ReplyCode.SyntaxError));
        Assert.False(ReplyCodes.IsHardError(ReplyCode.NotFound));
        Assert.Equal(206, AmqpConstants.FrameEnd);
        Assert.Equal(4096u, AmqpConstants.FrameMinSize);
    }

    private static IEnumerable<Type> AllMethodTypes() =>
        typeof(IAmqpMethod).Assembly.GetTypes()
            .Where(t => t.IsValueType && typeof(IAmqpMethod).IsAssignableFrom(t))
            .OrderBy(t => t.Name, StringComparer.Ordinal);

    private static byte[] EncodeFrame<TMethod>(TMethod method)
        where TMethod : struct, IAmqpMethod
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteMethod(output, 1, method, 131072);
        return output.WrittenSpan.ToArray();
    }

    private static object RandomValue(Type type, Random random)
    {
        if (type == typeof(bool))
        {
            return random.Next(2) == 1;
        }

        if (type == typeof(byte))
        {
            return (byte)random.Next(256);
        }

        if (type == typeof(ushort))
        {
            return (ushort)random.Next(65536);
        }

        if (type == typeof(uint))
        {
            return (uint)random.NextInt64(0, 1L << 32);
        }

        if (type == typeof(ulong))
        {
            return (ulong)random.NextInt64() * 2;
        }

        if (type == typeof(AmqpTimestamp))
        {
            return new AmqpTimestamp((ulong)random.NextInt64());
        }

        if (type == typeof(ShortString))
        {
            return new ShortString(RandomUtf8(random, random.Next(0, 256)));
        }

        if (type == typeof(LongString))
        {
            return new LongString(RandomBytes(random, random.Next(0, 1000)));
        }

        if (type == typeof(FieldTable))
        {
            return new FieldTable(Enumerable.Range(0, random.Next(0, 4)).Select(i => new FieldTableEntry($"k{i}", FieldValue.FromInt64(random.NextInt64()))));
        }

        throw new NotSupportedException(type.Name);
    }

    /// <summary>Valid UTF-8 (short strings must be) of at most <paramref name="maxBytes"/> bytes, characters of every width.</summary>
    private static byte[] RandomUtf8(Random random, int maxBytes)
    {
        string[] characters = ["a", "Z", "0", " ", ".", "\0", "é", "ß", "€", "中", "😀"];
        var text = new System.Text.StringBuilder();
        while (true)
        {
            var next = characters[random.Next(characters.Length)];
            if (System.Text.Encoding.UTF8.GetByteCount(text + next) > maxBytes)
            {
                return System.Text.Encoding.UTF8.GetBytes(text.ToString());
            }

            text.Append(next);
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
