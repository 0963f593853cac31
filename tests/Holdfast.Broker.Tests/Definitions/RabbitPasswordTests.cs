using System.Text;
using Holdfast.Broker.Security;
using Holdfast.Storage;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Definitions;

/// <summary>Users whose password is known only as RabbitMQ hashed it: logins checked against that hash, kept durably with its algorithm.</summary>
public sealed class RabbitPasswordTests
{
    private static readonly SecurityOptions Fast = new() { PasswordIterations = 1_000 };

    [Fact]
    public async Task RabbitMQs_documented_examples_verify()
    {
        using var directory = new TempDirectory("holdfast-rabbit-passwords");
        await using var store = await OpenAsync(directory);
        var users = await UserDirectory.LoadAsync(store, options: Fast);

        Assert.True(await users.AddUserWithPasswordHashAsync("sha256", RabbitHash.DocumentedSha256OfTest12, "rabbit_password_hashing_sha256"));
        Assert.True(await users.AddUserWithPasswordHashAsync("md5", RabbitHash.DocumentedMd5OfSimon, "rabbit_password_hashing_md5"));

        Assert.True(users.Authenticate("sha256", "test12").Succeeded);
        Assert.True(users.Authenticate("md5", "simon").Succeeded);
        var refused = users.Authenticate("sha256", "test13");
        Assert.False(refused.Succeeded);
        Assert.Equal("user 'sha256' - invalid credentials", refused.Reason);
        Assert.False(users.Authenticate("md5", "Simon").Succeeded);
    }

    [Theory]
    [InlineData("rabbit_password_hashing_sha256")]
    [InlineData("rabbit_password_hashing_sha512")]
    [InlineData("rabbit_password_hashing_pbkdf2_sha256")]
    public async Task Each_algorithm_verifies_the_password_it_hashed_and_nothing_else(string algorithm)
    {
        using var directory = new TempDirectory("holdfast-rabbit-passwords");
        await using var store = await OpenAsync(directory);
        var users = await UserDirectory.LoadAsync(store, options: Fast);
        var password = "pässwörd with ünïcode ✓";
        var hash = algorithm switch
        {
            "rabbit_password_hashing_sha256" => RabbitHash.Sha256(password),
            "rabbit_password_hashing_sha512" => RabbitHash.Sha512(password),
            _ => RabbitHash.Pbkdf2(password),
        };

        Assert.True(await users.AddUserWithPasswordHashAsync("u", hash, algorithm, ["management"]));

        Assert.True(users.Authenticate("u", password).Succeeded);
        Assert.False(users.Authenticate("u", password + " ").Succeeded);
        Assert.False(users.Authenticate("u", "").Succeeded);
        Assert.Equal(["management"], users.FindUser("u")!.Tags);
        Assert.False(await users.AddUserWithPasswordHashAsync("u", RabbitHash.Sha256("other"), "rabbit_password_hashing_sha256"));
        Assert.True(users.Authenticate("u", password).Succeeded);
    }

    [Fact]
    public async Task An_empty_hash_is_a_user_no_password_logs_in_as()
    {
        using var directory = new TempDirectory("holdfast-rabbit-passwords");
        await using var store = await OpenAsync(directory);
        var users = await UserDirectory.LoadAsync(store, options: Fast);

        Assert.True(await users.AddUserWithPasswordHashAsync("x509-only", "", "rabbit_password_hashing_sha256"));

        Assert.NotNull(users.FindUser("x509-only"));
        Assert.False(users.Authenticate("x509-only", "").Succeeded);
        Assert.False(users.Authenticate("x509-only", "guest").Succeeded);
    }

    [Fact]
    public async Task An_imported_hash_is_stored_durably_with_its_algorithm()
    {
        using var directory = new TempDirectory("holdfast-rabbit-passwords");
        await using (var first = await OpenAsync(directory))
        {
            var created = await UserDirectory.LoadAsync(first, options: Fast);
            await created.AddUserWithPasswordHashAsync("app", RabbitHash.DocumentedSha256OfTest12, "rabbit_password_hashing_sha256", ["monitoring"]);
            await created.AddUserWithPasswordHashAsync("nopass", "", "rabbit_password_hashing_sha256");
        }

        await using var store = await OpenAsync(directory);
        var users = await UserDirectory.LoadAsync(store, options: Fast);

        Assert.True(users.Authenticate("app", "test12").Succeeded);
        Assert.False(users.Authenticate("nopass", "").Succeeded);
        Assert.Equal(["monitoring"], users.FindUser("app")!.Tags);

        // version 1, algorithm 2 (RabbitMQ SHA-256), 1 iteration, the 4-byte salt and 32-byte digest as exported.
        Assert.True(store.TryGetMetadata("user/app", out var record));
        var exported = Convert.FromBase64String(RabbitHash.DocumentedSha256OfTest12);
        Assert.Equal(
            Convert.ToHexString([1, 2, 1, 0, 0, 0, 4, .. exported[..4], 32, .. exported[4..], 1, 0, 10, 0, .. Encoding.UTF8.GetBytes("monitoring")]),
            Convert.ToHexString(record!));
    }

    [Fact]
    public async Task A_refused_login_against_a_one_pass_hash_costs_a_full_derivation_as_for_a_missing_user()
    {
        using var directory = new TempDirectory("holdfast-rabbit-passwords");
        await using var store = await OpenAsync(directory);
        var users = await UserDirectory.LoadAsync(store, options: Fast with { VerifiedPasswordLifetime = TimeSpan.Zero });
        await users.AddUserWithPasswordHashAsync("app", RabbitHash.DocumentedSha256OfTest12, "rabbit_password_hashing_sha256");
        await users.AddUserWithPasswordHashAsync("nopass", "", "rabbit_password_hashing_sha256");

        var before = users.PasswordDerivations;
        Assert.True(users.Authenticate("app", "test12").Succeeded);
        Assert.Equal(before, users.PasswordDerivations);

        // Otherwise how fast a refusal comes would tell imported users from users that do not exist.
        Assert.False(users.Authenticate("app", "wrong").Succeeded);
        Assert.False(users.Authenticate("nopass", "wrong").Succeeded);
        Assert.False(users.Authenticate("nobody", "wrong").Succeeded);
        Assert.Equal(before + 3, users.PasswordDerivations);
    }

    [Fact]
    public async Task Without_CreateDefaults_a_blank_store_gets_no_guest_and_a_seeded_one_keeps_its_own()
    {
        using var directory = new TempDirectory("holdfast-rabbit-passwords");
        await using (var blank = await OpenAsync(directory))
        {
            var users = await UserDirectory.LoadAsync(blank, options: Fast with { CreateDefaults = false });
            Assert.Empty(users.ListUsers());
            Assert.Empty(users.ListVirtualHosts());
        }

        await using (var seeded = await OpenAsync(directory))
        {
            // Still blank, so the defaults come now; and once there, turning them off does not remove them.
            Assert.Equal("guest", Assert.Single((await UserDirectory.LoadAsync(seeded, options: Fast)).ListUsers()).Name);
        }

        await using var again = await OpenAsync(directory);
        Assert.Equal("guest", Assert.Single((await UserDirectory.LoadAsync(again, options: Fast with { CreateDefaults = false })).ListUsers()).Name);
    }

    [Theory]
    [InlineData("rabbit_password_hashing_sha256", "AAAA", "The password_hash is 3 bytes; rabbit_password_hashing_sha256 hashes are 36 (4-byte salt, 32-byte digest). (Parameter 'passwordHash')")]
    [InlineData("rabbit_password_hashing_md5", RabbitHash.DocumentedSha256OfTest12, "The password_hash is 36 bytes; rabbit_password_hashing_md5 hashes are 20 (4-byte salt, 16-byte digest). (Parameter 'passwordHash')")]
    [InlineData("sha256", RabbitHash.DocumentedSha256OfTest12, "The hashing_algorithm 'sha256' is not one Holdfast can verify (rabbit_password_hashing_sha256, rabbit_password_hashing_sha512, rabbit_password_hashing_md5, rabbit_password_hashing_pbkdf2_sha256). (Parameter 'hashingAlgorithm')")]
    public async Task A_hash_its_algorithm_does_not_produce_is_refused(string algorithm, string hash, string message)
    {
        using var directory = new TempDirectory("holdfast-rabbit-passwords");
        await using var store = await OpenAsync(directory);
        var users = await UserDirectory.LoadAsync(store, options: Fast);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => users.AddUserWithPasswordHashAsync("u", hash, algorithm));

        Assert.Equal(message, error.Message);
        Assert.Null(users.FindUser("u"));
    }

    private static Task<MessageStore> OpenAsync(TempDirectory directory) =>
        MessageStore.OpenAsync(new StoreOptions { Directory = directory.Path, SegmentSizeBytes = 1 << 20 });
}
