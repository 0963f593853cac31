using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.LoadTool.Amqp;

/// <summary>Closing a producer's or consumer's channel and connection at the end of a run, whatever state the broker left them in.</summary>
internal static class AmqpClose
{
    public static async Task QuietlyAsync(IChannel channel, IConnection connection)
    {
        try
        {
            if (channel.IsOpen)
            {
                await channel.CloseAsync().ConfigureAwait(false);
            }

            if (connection.IsOpen)
            {
                await connection.CloseAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is AlreadyClosedException or OperationInterruptedException or OperationCanceledException or IOException or TimeoutException)
        {
            // The run's outcome is already decided; a connection the broker dropped has nothing left to close.
        }

        await channel.DisposeAsync().ConfigureAwait(false);
        await connection.DisposeAsync().ConfigureAwait(false);
    }
}
