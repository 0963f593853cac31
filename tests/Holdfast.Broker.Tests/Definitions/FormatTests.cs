using Holdfast.Broker.Definitions;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Policies;

namespace Holdfast.Broker.Tests.Definitions;

/// <summary>The variants of RabbitMQ's format that real files contain, and the errors for files that are not in it.</summary>
public sealed class FormatTests
{
    [Theory]
    [InlineData("[]", "definitions test.json: the file holds an array; a definitions file is a JSON object with sections such as \"queues\" and \"users\"")]
    [InlineData("{ \"queues\": {} }", "definitions test.json: \"queues\" holds an object; it must be an array")]
    [InlineData("{ \"queues\": [ { \"name\": \"q\", \"vhost\": \"/\", \"auto_delete\": false } ] }", "definitions test.json: queues[0] ('q'): \"durable\" is missing")]
    [InlineData("{ \"queues\": [ { \"name\": \"q\", \"vhost\": \"/\", \"durable\": \"yes\", \"auto_delete\": false } ] }", "definitions test.json: queues[0] ('q'): \"durable\" holds a string; it must be true or false")]
    [InlineData("{ \"queues\": [ { \"name\": \"q\", \"durable\": true, \"auto_delete\": false } ] }", "definitions test.json: queues[0] ('q'): \"vhost\" is missing")]
    [InlineData("{ \"queues\": [ { \"name\": \"q\", \"vhost\": \"/\", \"durable\": true, \"auto_delete\": false, \"arguments\": { \"x-max-length\": 18446744073709551616 } } ] }", "definitions test.json: queues[0] ('q'): \"arguments\": 'x-max-length' is 18446744073709551616, beyond the range of a 64-bit integer")]
    [InlineData("{ \"exchanges\": [ { \"name\": \"x\", \"vhost\": \"/\", \"type\": \"x-consistent-hash\", \"durable\": true, \"auto_delete\": false } ] }", "definitions test.json: exchanges[0] ('x') in vhost '/': type 'x-consistent-hash' is not one Holdfast has (direct, fanout, topic, headers, x-delayed-message); its routing cannot move unchanged")]
    [InlineData("{ \"exchanges\": [ { \"name\": \"x\", \"vhost\": \"/\", \"type\": \"x-delayed-message\", \"durable\": true, \"auto_delete\": false, \"arguments\": {} } ] }", "definitions test.json: exchanges[0] ('x') in vhost '/': an x-delayed-message exchange needs \"x-delayed-type\" set to direct, fanout, topic or headers, not ''")]
    [InlineData("{ \"bindings\": [ { \"source\": \"x\", \"vhost\": \"/\", \"destination\": \"q\", \"destination_type\": \"topic\" } ] }", "definitions test.json: bindings[0]: \"destination_type\" is 'topic'; expected queue or exchange")]
    [InlineData("{ \"users\": [ { \"name\": \"u\", \"password\": \"p\", \"password_hash\": \"\" } ] }", "definitions test.json: users[0] ('u'): both \"password\" and \"password_hash\" are given; give one")]
    [InlineData("{ \"users\": [ { \"name\": \"u\", \"password_hash\": \"not base64!\" } ] }", "definitions test.json: users[0] ('u'): The password_hash is not base64. (Parameter 'passwordHash')")]
    [InlineData("{ \"users\": [ { \"name\": \"u\", \"password_hash\": \"AAAA\", \"hashing_algorithm\": \"rabbit_password_hashing_sha256\" } ] }", "definitions test.json: users[0] ('u'): The password_hash is 3 bytes; rabbit_password_hashing_sha256 hashes are 36 (4-byte salt, 32-byte digest). (Parameter 'passwordHash')")]
    [InlineData("{ \"users\": [ { \"name\": \"u\", \"password_hash\": \"AAAA\", \"hashing_algorithm\": \"rabbit_password_hashing_bcrypt\" } ] }", "definitions test.json: users[0] ('u'): The hashing_algorithm 'rabbit_password_hashing_bcrypt' is not one Holdfast can verify (rabbit_password_hashing_sha256, rabbit_password_hashing_sha512, rabbit_password_hashing_md5, rabbit_password_hashing_pbkdf2_sha256). (Parameter 'hashingAlgorithm')")]
    [InlineData("{ \"policies\": [ { \"name\": \"p\", \"vhost\": \"/\", \"pattern\": \".*\", \"apply-to\": \"connections\", \"definition\": {} } ] }", "definitions test.json: policies[0] ('p'): \"apply-to\" is 'connections'; expected all, queues, exchanges, classic_queues, quorum_queues or streams")]
    public async Task A_file_not_in_the_format_is_refused_with_a_message_naming_the_entry(string json, string message)
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        var error = await Assert.ThrowsAsync<DefinitionsException>(() => harness.ImportAsync(json));

        Assert.Equal(message, error.Message);
    }

    [Fact]
    public async Task Empty_and_null_sections_are_nothing_to_import_or_to_report()
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        var report = await harness.ImportAsync("""{ "users": null, "vhosts": [], "parameters": [], "global_parameters": null, "topic_permissions": [] }""");

        Assert.Empty(report.Imported);
        Assert.Empty(report.Skipped);
        Assert.Equal("definitions from test.json: imported nothing; already present nothing; skipped 0", report.ToString());
    }

    [Fact]
    public async Task A_file_that_is_not_JSON_is_refused()
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        var error = await Assert.ThrowsAsync<DefinitionsException>(() => harness.ImportAsync("{ \"queues\": [ "));

        Assert.StartsWith("definitions test.json: the file is not valid JSON: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_values_the_broker_would_refuse_stop_the_import_before_anything_is_written()
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        var error = await Assert.ThrowsAsync<DefinitionsException>(() => harness.ImportAsync("""
            {
              "vhosts": [ { "name": "/" } ],
              "users": [ { "name": "u", "password": "p", "tags": "" } ],
              "permissions": [ { "user": "u", "vhost": "/", "configure": "(", "write": ".*", "read": ".*" } ],
              "policies": [ { "name": "p", "vhost": "/", "pattern": "[", "definition": { "max-length": 1 } } ],
              "queues": [ { "name": "q", "vhost": "/", "durable": true, "auto_delete": false, "arguments": { "x-max-length": -1 } } ]
            }
            """));

        Assert.StartsWith("definitions test.json cannot be imported; nothing was changed. 3 problems: permissions of user 'u' in vhost '/': '(' is not a valid regular expression", error.Message, StringComparison.Ordinal);
        Assert.Contains("; policy 'p' in vhost '/': policy 'p': '[' is not a valid regular expression", error.Message, StringComparison.Ordinal);
        Assert.Contains("; queue 'q' in vhost '/': ", error.Message, StringComparison.Ordinal);
        Assert.Empty(harness.Users.ListVirtualHosts());
    }

    [Fact]
    public async Task Tags_as_one_comma_separated_string_or_as_a_list_and_a_missing_algorithm_by_RabbitMQs_version_rule()
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        // A 3.5 export: no hashing_algorithm, and the hashes were MD5 then.
        await harness.ImportAsync($$"""
            { "rabbit_version": "3.5.7", "users": [ { "name": "old", "password_hash": "{{RabbitHash.DocumentedMd5OfSimon}}", "tags": "administrator, monitoring" } ] }
            """);

        // A later export without it: SHA-256, RabbitMQ's default.
        await harness.ImportAsync($$"""
            { "rabbitmq_version": "3.12.1", "users": [ { "name": "newer", "password_hash": "{{RabbitHash.DocumentedSha256OfTest12}}", "tags": ["management"] } ] }
            """);

        Assert.True(harness.Users.Authenticate("old", "simon").Succeeded);
        Assert.Equal(["administrator", "monitoring"], harness.Users.FindUser("old")!.Tags);
        Assert.True(harness.Users.Authenticate("newer", "test12").Succeeded);
        Assert.Equal(["management"], harness.Users.FindUser("newer")!.Tags);
    }

    [Fact]
    public async Task Queue_type_scoped_apply_to_values_become_queues_and_a_policy_with_no_key_Holdfast_has_is_skipped()
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        var report = await harness.ImportAsync("""
            {
              "vhosts": [ { "name": "/" } ],
              "policies": [
                { "name": "qq", "vhost": "/", "pattern": "^qq\\.", "apply-to": "quorum_queues", "definition": { "delivery-limit": 5 } },
                { "name": "mirror", "vhost": "/", "pattern": ".*", "apply-to": "all", "definition": { "ha-mode": "exactly", "ha-params": 2 }, "priority": 0 },
                { "name": "ae", "vhost": "/", "pattern": "^in$", "definition": { "alternate-exchange": "lost" } }
              ]
            }
            """);

        var policies = harness.Broker.GetVirtualHost("/").Policies.OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(["ae", "qq"], policies.Select(p => p.Name));
        Assert.Equal((PolicyTarget.All, 0), (policies[0].ApplyTo, policies[0].Priority));
        Assert.Equal(PolicyTarget.Queues, policies[1].ApplyTo);
        Assert.Contains("policy 'mirror' in vhost '/': none of its keys (ha-mode, ha-params) has a Holdfast counterpart, so the policy is not imported", report.Skipped);
        Assert.Contains("policy 'qq' in vhost '/': apply-to 'quorum_queues' applies to every queue (Holdfast has one queue type)", report.Skipped);
    }

    [Fact]
    public async Task The_default_and_amq_exchanges_and_bindings_from_the_default_exchange_are_skipped_as_RabbitMQ_skips_them()
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        var report = await harness.ImportAsync("""
            {
              "vhosts": [ { "name": "/" } ],
              "exchanges": [
                { "name": "", "vhost": "/", "type": "direct", "durable": true, "auto_delete": false, "internal": false, "arguments": {} },
                { "name": "amq.direct", "vhost": "/", "type": "direct", "durable": true, "auto_delete": false, "internal": false, "arguments": {} }
              ],
              "queues": [ { "name": "q", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {} } ],
              "bindings": [ { "source": "", "vhost": "/", "destination": "q", "destination_type": "queue", "routing_key": "q", "arguments": {} } ]
            }
            """);

        Assert.Equal(["vhost '/'", "queue 'q' in vhost '/'"], report.Imported);
        Assert.Equal(
            [
                "the default exchange in vhost '/': it is built in",
                "exchange 'amq.direct' in vhost '/': names beginning with 'amq.' are reserved for the broker's own exchanges",
                "binding from the default exchange to queue 'q' in vhost '/': every queue has it implicitly",
            ],
            report.Skipped);
    }

    [Fact]
    public async Task An_exchange_to_exchange_binding_with_headers_arguments_is_imported_with_them()
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        await harness.ImportAsync("""
            {
              "vhosts": [ { "name": "/" } ],
              "exchanges": [
                { "name": "in", "vhost": "/", "type": "fanout", "durable": true, "auto_delete": false, "internal": false, "arguments": {} },
                { "name": "by-kind", "vhost": "/", "type": "headers", "durable": true, "auto_delete": false, "internal": false, "arguments": {} }
              ],
              "queues": [ { "name": "pdfs", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {} } ],
              "bindings": [
                { "source": "in", "vhost": "/", "destination": "by-kind", "destination_type": "exchange", "routing_key": "", "arguments": {} },
                { "source": "by-kind", "vhost": "/", "destination": "pdfs", "destination_type": "queue", "routing_key": "", "arguments": { "x-match": "any", "kind": "pdf", "size": 7 } }
              ]
            }
            """);

        await harness.Users.AddUserAsync("publisher", "pw");
        await harness.Users.SetPermissionsAsync("/", "publisher", ".*", ".*", ".*");
        var (channel, _) = harness.OpenChannel("/", "publisher");
        var pdf = new MessageHeaders([KeyValuePair.Create<string, object?>("kind", new TextValue("pdf"))]);
        var seven = new MessageHeaders([KeyValuePair.Create<string, object?>("size", 7)]);
        var other = new MessageHeaders([KeyValuePair.Create<string, object?>("kind", new TextValue("png"))]);
        channel.Publish(DefinitionsHarness.Message("in", "", "a", pdf), mandatory: false);
        channel.Publish(DefinitionsHarness.Message("in", "", "b", seven), mandatory: false);
        channel.Publish(DefinitionsHarness.Message("in", "", "c", other), mandatory: false);
        Assert.Equal(2, harness.Broker.GetVirtualHost("/").FindQueue("pdfs")!.ReadyCount);
    }
}
