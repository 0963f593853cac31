using System.Globalization;
using System.Text;

namespace Holdfast.Broker.Definitions;

/// <summary>
/// What an import did: the entities it created, those the broker already had exactly as the file
/// describes them (a second import of the same file lists everything here), and what it left out,
/// each with the reason. <see cref="ToString"/> is the one-line summary a host logs, followed by
/// <see cref="Skipped"/> line by line.
/// </summary>
public sealed class DefinitionsImportReport
{
    // Kinds in the order they are imported, which is also the order the summary lists them in.
    private static readonly string[] s_kinds = ["vhost", "user", "permission", "policy", "exchange", "queue", "binding"];

    private readonly List<(string Kind, string Entity)> _imported = [];
    private readonly List<(string Kind, string Entity)> _unchanged = [];
    private readonly List<string> _skipped = [];

    internal DefinitionsImportReport(string source, string? rabbitVersion)
    {
        Source = source;
        RabbitVersion = rabbitVersion;
    }

    /// <summary>The file (or other source) imported.</summary>
    public string Source { get; }

    /// <summary>The RabbitMQ version the file says wrote it; null when it does not say.</summary>
    public string? RabbitVersion { get; }

    /// <summary>Entities created, as "queue 'orders' in vhost '/'", in the order they were created.</summary>
    public IReadOnlyList<string> Imported => [.. _imported.Select(e => e.Entity)];

    /// <summary>Entities the broker already had with exactly the file's properties; nothing was written for them.</summary>
    public IReadOnlyList<string> Unchanged => [.. _unchanged.Select(e => e.Entity)];

    /// <summary>Sections, entities and fields not imported, each with why.</summary>
    public IReadOnlyList<string> Skipped => _skipped;

    /// <summary>How many entities of a kind (vhost, user, permission, policy, exchange, queue, binding) were created.</summary>
    public int ImportedCount(string kind) => _imported.Count(e => e.Kind == kind);

    /// <summary>How many entities of a kind were already present.</summary>
    public int UnchangedCount(string kind) => _unchanged.Count(e => e.Kind == kind);

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"definitions from {Source}");
        if (RabbitVersion is not null)
        {
            text.Append(CultureInfo.InvariantCulture, $" (exported by RabbitMQ {RabbitVersion})");
        }

        text.Append(": imported ").Append(Counts(_imported));
        text.Append("; already present ").Append(Counts(_unchanged));
        text.Append(CultureInfo.InvariantCulture, $"; skipped {_skipped.Count}");
        return text.ToString();
    }

    internal void AddImported(string kind, string entity) => _imported.Add((kind, entity));

    internal void AddUnchanged(string kind, string entity) => _unchanged.Add((kind, entity));

    internal void AddSkipped(string reason) => _skipped.Add(reason);

    private static string Counts(List<(string Kind, string Entity)> entries)
    {
        if (entries.Count == 0)
        {
            return "nothing";
        }

        var parts = s_kinds
            .Select(kind => (Kind: kind, Count: entries.Count(e => e.Kind == kind)))
            .Where(p => p.Count > 0)
            .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Count} {Plural(p.Kind, p.Count)}"));
        return string.Join(", ", parts);
    }

    private static string Plural(string kind, int count) => count == 1 ? kind : kind == "policy" ? "policies" : kind + "s";
}
