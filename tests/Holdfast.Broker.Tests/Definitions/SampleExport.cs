namespace Holdfast.Broker.Tests.Definitions;

/// <summary>
/// A definitions file as <c>rabbitmqctl export_definitions</c> on RabbitMQ 3.13 writes one, by hand:
/// every section an export has (those Holdfast imports and those it skips), users hashed with each of
/// RabbitMQ's algorithms, durable exchanges with an alternate exchange, queues with TTL, dead-lettering,
/// length limits and queue types, bindings to queues and to exchanges with arguments, and a policy
/// carrying a classic-mirroring key that has no Holdfast counterpart.
/// </summary>
internal static class SampleExport
{
    public const string AppPassword = "s3cret-app";
    public const string OpsPassword = "s3cret-ops";
    public const string PlainPassword = "plain-text";

    /// <summary>Every name is fresh; the hashes get new salts on each call, as two exports of two nodes would.</summary>
    public static string Json() => Json(RabbitHash.Sha256(AppPassword), RabbitHash.Sha512(OpsPassword));

    public static string Json(string appHash, string opsHash) => $$"""
        {
          "rabbit_version": "3.13.7",
          "rabbitmq_version": "3.13.7",
          "product_name": "RabbitMQ",
          "product_version": "3.13.7",
          "users": [
            { "name": "app", "password_hash": "{{appHash}}", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": [], "limits": {} },
            { "name": "ops", "password_hash": "{{opsHash}}", "hashing_algorithm": "rabbit_password_hashing_sha512", "tags": ["administrator", "monitoring"], "limits": {} },
            { "name": "legacy", "password_hash": "{{RabbitHash.DocumentedMd5OfSimon}}", "hashing_algorithm": "rabbit_password_hashing_md5", "tags": "management,policymaker", "limits": {} },
            { "name": "x509-only", "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": [], "limits": { "max-connections": 10 } },
            { "name": "scripted", "password": "{{PlainPassword}}", "tags": "" }
          ],
          "vhosts": [
            { "name": "/", "description": "Default virtual host", "tags": [], "metadata": { "description": "Default virtual host", "tags": [] } },
            { "name": "shop", "description": "", "tags": ["production"], "default_queue_type": "classic", "metadata": { "description": "", "tags": ["production"], "default_queue_type": "classic" } }
          ],
          "permissions": [
            { "user": "app", "vhost": "shop", "configure": "^(orders|payments)\\.", "write": ".*", "read": ".*" },
            { "user": "ops", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*" },
            { "user": "ops", "vhost": "shop", "configure": ".*", "write": ".*", "read": ".*" }
          ],
          "topic_permissions": [
            { "user": "app", "vhost": "shop", "exchange": "shop.events", "write": "^order\\.", "read": ".*" }
          ],
          "parameters": [
            { "value": { "uri": "amqp://upstream.example" }, "vhost": "shop", "component": "federation-upstream", "name": "old-dc" }
          ],
          "global_parameters": [
            { "name": "cluster_name", "value": "rabbit@old-node" },
            { "name": "internal_cluster_id", "value": "rabbitmq-cluster-id-Xq3" }
          ],
          "policies": [
            { "vhost": "shop", "name": "orders-cap", "pattern": "^orders\\.", "apply-to": "queues", "definition": { "max-length": 3, "ha-mode": "all", "ha-sync-mode": "automatic" }, "priority": 1 }
          ],
          "queues": [
            { "name": "orders.created", "vhost": "shop", "durable": true, "auto_delete": false, "type": "classic", "arguments": { "x-message-ttl": 60000, "x-dead-letter-exchange": "orders.dlx", "x-queue-type": "classic" } },
            { "name": "orders.dead", "vhost": "shop", "durable": true, "auto_delete": false, "type": "classic", "arguments": {} },
            { "name": "payments", "vhost": "shop", "durable": true, "auto_delete": false, "type": "quorum", "arguments": { "x-max-length": 2, "x-overflow": "reject-publish", "x-queue-type": "quorum" } },
            { "name": "audit", "vhost": "shop", "durable": true, "auto_delete": false, "type": "classic", "arguments": {} },
            { "name": "unrouted", "vhost": "shop", "durable": true, "auto_delete": false, "type": "classic", "arguments": {} },
            { "name": "reminders", "vhost": "shop", "durable": true, "auto_delete": false, "type": "classic", "arguments": { "x-max-length-bytes": 5000000000, "x-custom": [1, "two", 3.5, { "nested": true }, null] } },
            { "name": "scratch", "vhost": "shop", "durable": false, "auto_delete": true, "type": "classic", "arguments": {} },
            { "name": "amq.gen-3kVg2WJz", "vhost": "shop", "durable": true, "auto_delete": false, "type": "classic", "arguments": {} }
          ],
          "exchanges": [
            { "name": "shop.events", "vhost": "shop", "type": "topic", "durable": true, "auto_delete": false, "internal": false, "arguments": { "alternate-exchange": "shop.unrouted" } },
            { "name": "shop.unrouted", "vhost": "shop", "type": "fanout", "durable": true, "auto_delete": false, "internal": false, "arguments": {} },
            { "name": "shop.audit", "vhost": "shop", "type": "headers", "durable": true, "auto_delete": false, "internal": true, "arguments": {} },
            { "name": "orders.dlx", "vhost": "shop", "type": "direct", "durable": true, "auto_delete": false, "internal": false, "arguments": {} },
            { "name": "shop.later", "vhost": "shop", "type": "x-delayed-message", "durable": true, "auto_delete": false, "internal": false, "arguments": { "x-delayed-type": "direct" } }
          ],
          "bindings": [
            { "source": "shop.events", "vhost": "shop", "destination": "orders.created", "destination_type": "queue", "routing_key": "order.*.created", "arguments": {} },
            { "source": "shop.events", "vhost": "shop", "destination": "shop.audit", "destination_type": "exchange", "routing_key": "order.#", "arguments": {} },
            { "source": "shop.audit", "vhost": "shop", "destination": "audit", "destination_type": "queue", "routing_key": "", "arguments": { "x-match": "all", "region": "eu" } },
            { "source": "shop.unrouted", "vhost": "shop", "destination": "unrouted", "destination_type": "queue", "routing_key": "", "arguments": {} },
            { "source": "orders.dlx", "vhost": "shop", "destination": "orders.dead", "destination_type": "queue", "routing_key": "order.eu.created", "arguments": {} },
            { "source": "amq.topic", "vhost": "shop", "destination": "payments", "destination_type": "queue", "routing_key": "payment.#", "arguments": {} },
            { "source": "shop.later", "vhost": "shop", "destination": "reminders", "destination_type": "queue", "routing_key": "soon", "arguments": {} },
            { "source": "shop.events", "vhost": "shop", "destination": "amq.gen-3kVg2WJz", "destination_type": "queue", "routing_key": "debug.#", "arguments": {} }
          ]
        }
        """;
}
