namespace Holdfast.CodeGen;

/// <summary>One place on the wire: either a single field, or an octet of packed bits.</summary>
/// <param name="BitOctetIndex">0 for the method's first octet of bits, 1 for the next; -1 for a field.</param>
public sealed record ArgumentSlot(SpecField? Field, IReadOnlyList<SpecField> Bits, int BitOctetIndex)
{
    public bool IsBitOctet => Field is null;
}
