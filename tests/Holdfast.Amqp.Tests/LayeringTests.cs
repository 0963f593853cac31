using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Tests;

public sealed class LayeringTests
{
    [Fact]
    public void The_amqp_door_depends_on_the_base_library_only_for_now()
    {
        var references = typeof(IAmqpMethod).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        // The codec must stand alone; above all it never reaches into storage. When the door grows
        // its broker half, Holdfast.Broker joins this list, and Holdfast.Storage still must not.
        var foreign = references.Where(name => !(name.StartsWith("System", StringComparison.Ordinal) || name == "netstandard")).ToList();

        Assert.Empty(foreign);
        Assert.DoesNotContain("Holdfast.Storage", references);
    }
}
