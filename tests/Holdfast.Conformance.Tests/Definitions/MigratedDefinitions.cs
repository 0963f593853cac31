namespace Holdfast.Conformance.Tests.Definitions;

/// <summary>
/// A definitions file as a RabbitMQ node exports it, for a shop that moves to Holdfast: its user's
/// password is there only as RabbitMQ hashed it (rabbitmq.com's worked example: salt 908DC60A,
/// password "test12", SHA-256), so logging in proves the hash itself is checked.
/// </summary>
internal static class MigratedDefinitions
{
    public const string User = "shop-app";
    public const string Password = "test12";
    public const string PasswordHash = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR";

    public static string Json(int ttl = 60000) => $$"""
        {
          "rabbit_version": "3.13.7",
          "rabbitmq_version": "3.13.7",
          "product_name": "RabbitMQ",
          "product_version": "3.13.7",
          "users": [
            { "name": "{{User}}", "password_hash": "{{PasswordHash}}", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": [], "limits": {} }
          ],
          "vhosts": [ { "name": "shop", "description": "", "tags": [], "metadata": { "description": "", "tags": [] } } ],
          "permissions": [ { "user": "{{User}}", "vhost": "shop", "configure": "^orders\\.", "write": ".*", "read": ".*" } ],
          "topic_permissions": [],
          "parameters": [],
          "global_parameters": [ { "name": "cluster_name", "value": "rabbit@old" } ],
          "policies": [],
          "queues": [
            { "name": "orders.eu", "vhost": "shop", "durable": true, "auto_delete": false, "type": "classic", "arguments": { "x-message-ttl": {{ttl}}, "x-queue-type": "classic" } }
          ],
          "exchanges": [
            { "name": "orders", "vhost": "shop", "type": "topic", "durable": true, "auto_delete": false, "internal": false, "arguments": {} }
          ],
          "bindings": [
            { "source": "orders", "vhost": "shop", "destination": "orders.eu", "destination_type": "queue", "routing_key": "order.eu.*", "arguments": {} }
          ]
        }
        """;
}
