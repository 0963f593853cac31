using System.IO.Pipelines;

namespace Holdfast.Amqp.Tests.Support;

/// <summary>A connection's transport made of two in-memory pipes: no socket, no Kestrel.</summary>
internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}
