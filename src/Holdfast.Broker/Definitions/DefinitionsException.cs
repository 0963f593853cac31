namespace Holdfast.Broker.Definitions;

/// <summary>
/// A definitions file that cannot be imported: it is not in RabbitMQ's format, it names something
/// that does not exist, or it defines an entity the broker already has with other properties. The
/// message names the entity; a broker that imports at start refuses to start with it.
/// </summary>
public sealed class DefinitionsException : Exception
{
    public DefinitionsException()
    {
    }

    public DefinitionsException(string message)
        : base(message)
    {
    }

    public DefinitionsException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
