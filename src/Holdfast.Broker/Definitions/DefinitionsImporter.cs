using System.Globalization;
using System.Text;

namespace Holdfast.Broker.Definitions;

/// <summary>
/// Imports a RabbitMQ definitions file (the JSON that <c>rabbitmqctl export_definitions</c>, <c>GET
/// /api/definitions</c> and the management UI's export write) into a broker: vhosts, users (with
/// their RabbitMQ password hashes, or a plain <c>password</c>), permissions, policies, exchanges,
/// queues and bindings, so that a RabbitMQ deployment's topology moves over unchanged.
/// </summary>
/// <remarks>
/// <para>
/// Idempotent: what the broker already has exactly as the file describes it is left alone, so the
/// same file can be imported at every start. Checked before written: the whole file is read and
/// compared with the broker first, and an entity the broker has with other properties (or a
/// reference to a vhost, user, exchange or queue that neither the file nor the broker has) fails the
/// import with a <see cref="DefinitionsException"/> naming each one, before anything is changed.
/// </para>
/// <para>
/// Not imported, and listed in <see cref="DefinitionsImportReport.Skipped"/>: runtime and global
/// parameters (federation, shovels, limits), topic permissions, user and vhost limits, policy keys
/// Holdfast does not implement (<c>ha-mode</c> and the rest of classic mirroring, ...), the default
/// and <c>amq.*</c> exchanges, and <c>amq.*</c> queues (as RabbitMQ's own import skips them).
/// </para>
/// </remarks>
public static class DefinitionsImporter
{
    /// <summary>Reads and imports <paramref name="path"/>.</summary>
    /// <exception cref="DefinitionsException">The file cannot be read, is not a definitions file, or conflicts with the broker; the message says which entity and why.</exception>
    public static async Task<DefinitionsImportReport> ImportFileAsync(string path, MessageBroker broker, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(broker);
        byte[] json;
        try
        {
            json = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new DefinitionsException($"definitions file '{path}' cannot be read: {ex.Message}", ex);
        }

        return await ImportAsync(json, broker, $"'{path}'", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Imports definitions given as UTF-8 JSON; <paramref name="source"/> names them in the report and in errors.</summary>
    /// <exception cref="DefinitionsException">Not a definitions file, or in conflict with the broker.</exception>
    public static async Task<DefinitionsImportReport> ImportAsync(ReadOnlyMemory<byte> utf8Json, MessageBroker broker, string source = "definitions", CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(source);
        DefinitionsDocument document;
        try
        {
            document = DefinitionsParser.Parse(utf8Json);
        }
        catch (DefinitionsException ex)
        {
            throw new DefinitionsException($"definitions {source}: {ex.Message}", ex);
        }

        var report = new DefinitionsImportReport(source, document.RabbitVersion);
        foreach (var skipped in document.Skipped)
        {
            report.AddSkipped(skipped);
        }

        var (steps, problems) = DefinitionsPlanner.Plan(document, broker, report);
        if (problems.Count > 0)
        {
            throw new DefinitionsException(DescribeProblems(source, problems));
        }

        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            try
            {
                await step.ApplyAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A store failure, or a race with another writer: what was done stays done, and a second import finishes the rest.
                throw new DefinitionsException(
                    string.Create(CultureInfo.InvariantCulture, $"definitions {source}: could not import {step.Entity}: {ex.Message} ({i} of {steps.Count} changes were made before it; importing the file again completes the rest)"),
                    ex);
            }

            report.AddImported(step.Kind, step.Entity);
        }

        return report;
    }

    private static string DescribeProblems(string source, IReadOnlyList<string> problems)
    {
        const int Shown = 25;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"definitions {source} cannot be imported; nothing was changed. ");
        text.Append(problems.Count == 1 ? "Problem: " : string.Create(CultureInfo.InvariantCulture, $"{problems.Count} problems: "));
        text.AppendJoin("; ", problems.Take(Shown));
        if (problems.Count > Shown)
        {
            text.Append(CultureInfo.InvariantCulture, $"; and {problems.Count - Shown} more");
        }

        return text.ToString();
    }
}
