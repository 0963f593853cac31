namespace Holdfast.Storage.Tests.Model;

/// <summary>An ack or purge that covers a message: certainly, or only if a requeue in flight had not yet been applied.</summary>
internal readonly record struct ModelRemoval(ModelOp Op, bool Certain);
