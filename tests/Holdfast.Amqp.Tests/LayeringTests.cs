using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Tests;

public sealed class LayeringTests
{
    [Fact]
    public void The_amqp_door_depends_on_the_broker_core_and_never_on_storage()
    {
        var references = typeof(IAmqpMethod).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        // A front door translates frames into calls on the broker; files and logs are the broker's business.
        var foreign = references.Where(name => !(name.StartsWith("System", StringComparison.Ordinal) || name == "netstandard" || name == "Holdfast.Broker")).ToList();

        Assert.Empty(foreign);
        Assert.DoesNotContain("Holdfast.Storage", references);
    }
}
