using System.Text.RegularExpressions;
using Holdfast.Broker.Queues;
using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Policies;

/// <summary>
/// Which policy applies to a queue or exchange, and what the result is. RabbitMQ's rules: among the
/// matching policies the highest priority wins (one policy only); a queue's own argument beats the
/// policy's, except for the numeric limits, where the lower of the two applies.
/// </summary>
internal static class PolicyResolver
{
    /// <summary>Policy keys for queues, and whether the lower value wins when the queue sets one too.</summary>
    public static IReadOnlyDictionary<string, bool> QueueKeys { get; } = new Dictionary<string, bool>(StringComparer.Ordinal)
    {
        ["message-ttl"] = true,
        ["expires"] = true,
        ["max-length"] = true,
        ["max-length-bytes"] = true,
        ["delivery-limit"] = true,
        ["overflow"] = false,
        ["dead-letter-exchange"] = false,
        ["dead-letter-routing-key"] = false,
        ["dead-letter-strategy"] = false,
        ["retry-delays"] = false,
        ["queue-mode"] = false,
    };

    private const string DeadLetterExchange = "x-dead-letter-exchange";
    private const string DeadLetterRoutingKey = "x-dead-letter-routing-key";

    public static IReadOnlySet<string> ExchangeKeys { get; } = new HashSet<string>(StringComparer.Ordinal) { "alternate-exchange" };

    /// <summary>Refuses a policy with a bad pattern, an unknown key, or a value no queue could use (as RabbitMQ does when it is set).</summary>
    public static void Validate(PolicyDefinition policy, string virtualHost)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentException.ThrowIfNullOrEmpty(policy.Name);
        try
        {
            _ = new Regex(policy.Pattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"policy '{policy.Name}': '{policy.Pattern}' is not a valid regular expression: {ex.Message}", nameof(policy), ex);
        }

        foreach (var key in policy.Definition.Keys)
        {
            if (!QueueKeys.ContainsKey(key) && !ExchangeKeys.Contains(key))
            {
                throw new ArgumentException($"policy '{policy.Name}': '{key}' is not a recognised policy key", nameof(policy));
            }
        }

        if (policy.Definition.Count == 0)
        {
            throw new ArgumentException($"policy '{policy.Name}': the definition is empty", nameof(policy));
        }

        // Each value as a queue would take it. A routing key alone is fine in a policy: it meets the
        // dead-letter exchange of the queues that declare one.
        var asQueueArguments = policy.Definition.Where(d => QueueKeys.ContainsKey(d.Key)).ToDictionary(d => "x-" + d.Key, d => d.Value, StringComparer.Ordinal);
        asQueueArguments.TryAdd(DeadLetterExchange, string.Empty);
        if (!QueueArgumentCheck.IsUsable(asQueueArguments, new QueueContext($"<any matching policy '{policy.Name}'>", virtualHost), out var error))
        {
            throw new ArgumentException($"policy '{policy.Name}' has a value no queue can use: {error}", nameof(policy));
        }
    }

    public static PolicyDefinition? Match(IEnumerable<PolicyDefinition> policies, string name, bool isQueue)
    {
        PolicyDefinition? best = null;
        foreach (var policy in policies)
        {
            var applies = policy.ApplyTo == PolicyTarget.All || policy.ApplyTo == (isQueue ? PolicyTarget.Queues : PolicyTarget.Exchanges);
            if (applies && (best is null || policy.Priority > best.Priority) && Matches(policy.Pattern, name))
            {
                best = policy;
            }
        }

        return best;
    }

    /// <summary>
    /// The queue's arguments with the policy's added under their <c>x-</c> names, by the precedence rules above. A
    /// policy's dead-letter routing key is left out for a queue with no dead-letter exchange, where it means nothing.
    /// </summary>
    public static IReadOnlyDictionary<string, object?> EffectiveQueueArguments(IReadOnlyDictionary<string, object?> declared, PolicyDefinition? policy)
    {
        if (policy is null)
        {
            return declared;
        }

        var effective = new Dictionary<string, object?>(declared, StringComparer.Ordinal);
        foreach (var (key, value) in policy.Definition)
        {
            if (!QueueKeys.TryGetValue(key, out var lowerWins))
            {
                continue;
            }

            var argument = "x-" + key;
            if (!effective.TryGetValue(argument, out var own))
            {
                effective[argument] = value;
            }
            else if (lowerWins && TopologyArguments.AsInteger(value) is { } fromPolicy && TopologyArguments.AsInteger(own) is { } fromQueue && fromPolicy < fromQueue)
            {
                effective[argument] = fromPolicy;
            }
        }

        if (!effective.ContainsKey(DeadLetterExchange) && !declared.ContainsKey(DeadLetterRoutingKey))
        {
            effective.Remove(DeadLetterRoutingKey);
        }

        return effective;
    }

    /// <summary>The exchange's alternate exchange: its own argument, else the policy's.</summary>
    public static string? EffectiveAlternateExchange(ExchangeDefinition exchange, PolicyDefinition? policy) =>
        exchange.AlternateExchange
        ?? (policy is not null && policy.Definition.ContainsKey("alternate-exchange") ? TopologyArguments.GetString(policy.Definition, "alternate-exchange") : null);

    private static bool Matches(string pattern, string name)
    {
        try
        {
            return Regex.IsMatch(name, pattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }
}
