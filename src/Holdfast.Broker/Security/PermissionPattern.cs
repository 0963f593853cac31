using System.Text.RegularExpressions;

namespace Holdfast.Broker.Security;

/// <summary>
/// One of a user's three permission patterns, compiled once when it is set or loaded.
/// </summary>
/// <remarks>
/// RabbitMQ runs the pattern with <c>re:run</c>, a search rather than a full match: <c>amq</c> grants
/// <c>x.amq.y</c>, and a pattern that wants a prefix says <c>^amq\.</c>. An empty pattern would match
/// everything under that rule, so RabbitMQ rewrites it to <c>^$</c>; here it grants nothing at all,
/// which differs only for an empty resource name, and no check is made with one (the default
/// exchange is checked as <c>amq.default</c>).
/// </remarks>
internal sealed class PermissionPattern
{
    private readonly Regex? _regex;

    private PermissionPattern(string text, Regex? regex)
    {
        Text = text;
        _regex = regex;
    }

    public string Text { get; }

    /// <exception cref="ArgumentException">The pattern is not a valid regular expression.</exception>
    public static PermissionPattern Compile(string pattern, TimeSpan matchTimeout, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(pattern, parameterName);
        if (pattern.Length == 0)
        {
            return new PermissionPattern(pattern, null);
        }

        try
        {
            // Compiled: the write check runs on every publish, and patterns change rarely.
            return new PermissionPattern(pattern, new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled, matchTimeout));
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"'{pattern}' is not a valid regular expression: {ex.Message}", parameterName, ex);
        }
    }

    public bool IsMatch(string resourceName)
    {
        if (_regex is null)
        {
            return false;
        }

        try
        {
            return _regex.IsMatch(resourceName);
        }
        catch (RegexMatchTimeoutException)
        {
            // Refuse rather than grant: a pattern too slow to decide has not granted anything.
            return false;
        }
    }
}
