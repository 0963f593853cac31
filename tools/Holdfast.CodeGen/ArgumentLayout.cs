namespace Holdfast.CodeGen;

/// <summary>
/// A method's arguments as they sit on the wire: each non-bit field on its own, and each run of
/// consecutive bit fields packed into octets, first bit in the lowest-order bit, eight to an octet
/// (AMQP 0-9-1 section 4.2.5.2). A ninth bit in a row starts a new octet.
/// </summary>
public sealed class ArgumentLayout
{
    private ArgumentLayout(IReadOnlyList<ArgumentSlot> slots) => Slots = slots;

    public IReadOnlyList<ArgumentSlot> Slots { get; }

    public static ArgumentLayout Of(IReadOnlyList<SpecField> fields)
    {
        var slots = new List<ArgumentSlot>();
        List<SpecField>? bits = null;
        foreach (var field in fields)
        {
            if (field.Type == "bit")
            {
                if (bits is null || bits.Count == 8)
                {
                    bits = [];
                    slots.Add(new ArgumentSlot(null, bits, slots.Count(s => s.IsBitOctet)));
                }

                bits.Add(field);
            }
            else
            {
                bits = null;
                slots.Add(new ArgumentSlot(field, [], -1));
            }
        }

        return new ArgumentLayout(slots);
    }
}
