namespace Holdfast.Storage.Tests;

public sealed class LayeringTests
{
    [Fact]
    public void Storage_depends_on_the_base_library_and_System_IO_Hashing_only()
    {
        var references = typeof(MessageStore).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        var foreign = references.Where(name => !(name.StartsWith("System", StringComparison.Ordinal) || name == "netstandard")).ToList();

        Assert.Empty(foreign);
        Assert.Contains("System.IO.Hashing", references);
    }
}
