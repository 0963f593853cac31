namespace Holdfast.Broker.Routing;

/// <summary>
/// What the headers exchange needs of a message: a lookup by name. A front door implements it over
/// its own decoded headers, so routing never converts or copies them. Values compare with
/// <see cref="object.Equals(object?)"/> against binding arguments produced by the same door.
/// </summary>
public interface IMessageHeaders
{
    bool TryGetHeader(string name, out object? value);
}
