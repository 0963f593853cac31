using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Support;

/// <summary>Offers <see cref="AmqplainMechanism"/> to a ConnectionFactory and counts its uses, so a test can tell it was the one chosen.</summary>
internal sealed class AmqplainMechanismFactory : IAuthMechanismFactory
{
    private int _instances;

    public string Name => "AMQPLAIN";

    public int Instances => Volatile.Read(ref _instances);

    public IAuthMechanism GetInstance()
    {
        Interlocked.Increment(ref _instances);
        return new AmqplainMechanism();
    }
}
