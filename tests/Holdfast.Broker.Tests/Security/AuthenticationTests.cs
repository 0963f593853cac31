using Holdfast.Broker.Security;

namespace Holdfast.Broker.Tests.Security;

public sealed class AuthenticationTests
{
    [Fact]
    public async Task A_refusal_says_why_for_the_log()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();

        Assert.Equal(AuthenticationOutcome.Refused("user 'nobody' not found"), directory.Authenticate("nobody", "guest"));
        Assert.Equal(AuthenticationOutcome.Refused("user 'guest' - invalid credentials"), directory.Authenticate("guest", "Guest"));
        Assert.Equal(AuthenticationOutcome.Success, directory.Authenticate("guest", "guest"));
    }

    [Fact]
    public async Task Passwords_are_stored_salted_never_in_clear()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(await directory.AddUserAsync("alice", "correct horse"));
        Assert.True(await directory.AddUserAsync("bob", "correct horse"));

        var metadata = store.Store.GetMetadata();
        byte[] clear = System.Text.Encoding.UTF8.GetBytes("correct horse");
        Assert.Equal(-1, metadata["user/alice"].AsSpan().IndexOf(clear));

        // Same password, different salt, different hash: a stolen data directory does not show who shares one.
        Assert.NotEqual(metadata["user/alice"], metadata["user/bob"]);
    }

    [Fact]
    public async Task A_successful_check_is_cached_so_reconnecting_does_not_derive_again()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        long before = directory.PasswordDerivations;

        for (int i = 0; i < 5; i++)
        {
            Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        }

        Assert.Equal(before + 1, directory.PasswordDerivations);
        Assert.True(directory.IsPasswordVerificationCached("guest"));
    }

    [Fact]
    public async Task A_failed_check_is_not_cached_and_a_cached_success_does_not_let_another_password_in()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        long before = directory.PasswordDerivations;

        Assert.False(directory.Authenticate("guest", "wrong").Succeeded);
        Assert.False(directory.Authenticate("guest", "wrong").Succeeded);

        Assert.Equal(before + 2, directory.PasswordDerivations);
        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        Assert.Equal(before + 2, directory.PasswordDerivations);
    }

    [Fact]
    public async Task A_password_change_drops_the_cached_check_and_the_old_password_fails_at_once()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        Assert.True(directory.IsPasswordVerificationCached("guest"));

        Assert.True(await directory.ChangePasswordAsync("guest", "n3w"));

        Assert.False(directory.IsPasswordVerificationCached("guest"));
        Assert.False(directory.Authenticate("guest", "guest").Succeeded);
        long before = directory.PasswordDerivations;
        Assert.True(directory.Authenticate("guest", "n3w").Succeeded);
        Assert.Equal(before + 1, directory.PasswordDerivations);
    }

    [Fact]
    public async Task Deleting_a_user_drops_its_cached_check_and_a_new_user_of_that_name_needs_its_own_password()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(await directory.AddUserAsync("alice", "first"));
        Assert.True(directory.Authenticate("alice", "first").Succeeded);

        Assert.True(await directory.DeleteUserAsync("alice"));
        Assert.False(directory.IsPasswordVerificationCached("alice"));
        Assert.False(directory.Authenticate("alice", "first").Succeeded);

        Assert.True(await directory.AddUserAsync("alice", "second"));
        Assert.False(directory.Authenticate("alice", "first").Succeeded);
        Assert.True(directory.Authenticate("alice", "second").Succeeded);
    }

    [Fact]
    public async Task A_cached_check_expires_after_its_lifetime()
    {
        await using var store = await SecurityStore.CreateAsync();
        var time = new ManualTime();
        var directory = await store.LoadAsync(SecurityStore.FastOptions with { VerifiedPasswordLifetime = TimeSpan.FromMinutes(1) }, time);
        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        long before = directory.PasswordDerivations;

        time.Advance(TimeSpan.FromSeconds(59));
        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        Assert.Equal(before, directory.PasswordDerivations);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        Assert.Equal(before + 1, directory.PasswordDerivations);
    }

    [Fact]
    public async Task A_zero_lifetime_turns_the_cache_off()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync(SecurityStore.FastOptions with { VerifiedPasswordLifetime = TimeSpan.Zero });
        long before = directory.PasswordDerivations;

        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        Assert.True(directory.Authenticate("guest", "guest").Succeeded);

        Assert.Equal(before + 2, directory.PasswordDerivations);
        Assert.False(directory.IsPasswordVerificationCached("guest"));
    }

    [Fact]
    public async Task A_missing_user_costs_a_derivation_like_a_wrong_password_so_timing_does_not_reveal_it()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        long before = directory.PasswordDerivations;

        Assert.False(directory.Authenticate("nobody", "guest").Succeeded);

        Assert.Equal(before + 1, directory.PasswordDerivations);
    }

    [Fact]
    public async Task A_hash_keeps_the_iteration_count_it_was_made_with()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync(SecurityStore.FastOptions with { PasswordIterations = 1_000 });
        Assert.True(await directory.AddUserAsync("alice", "pw"));

        directory = await store.RestartAsync(SecurityStore.FastOptions with { PasswordIterations = 2_000 });

        Assert.True(directory.Authenticate("alice", "pw").Succeeded);
        Assert.Equal(1_000, directory.FindUser("alice")!.Password.Iterations);
    }
}
