namespace Holdfast.Storage.Tests.Model;

/// <summary>The store did something the model says it must not.</summary>
internal sealed class ModelViolationException : Exception
{
    public ModelViolationException()
    {
    }

    public ModelViolationException(string message)
        : base(message)
    {
    }

    public ModelViolationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
