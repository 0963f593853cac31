using Holdfast.Broker.Routing;

namespace Holdfast.Broker.Tests.Routing;

internal sealed class TestHeaders(params (string Name, object? Value)[] headers) : IMessageHeaders
{
    public bool TryGetHeader(string name, out object? value)
    {
        foreach (var (n, v) in headers)
        {
            if (n == name)
            {
                value = v;
                return true;
            }
        }

        value = null;
        return false;
    }
}
