namespace Holdfast.Broker.Policies;

/// <summary>What a policy applies to (RabbitMQ's <c>apply-to</c>: queues, exchanges or all).</summary>
public enum PolicyTarget
{
    All,
    Queues,
    Exchanges,
}
