/// The backend side for kernels without IP-in-IP devices: a small XDP program that takes the
/// outer header off IPv4-in-IPv4 and IPv6-in-IPv6 packets as they arrive (what tunl0 and
/// ip6tnl0 do elsewhere). Attached through netlink, it stays attached when this process exits:
/// `detach` (or `ip link set dev DEV xdp off`) removes it.
public enum XDPDecapsulator {
    /// Attaches (replacing an earlier one of ours); returns the program's id.
    @discardableResult
    public static func attach(interface: String, mode: XDPAttachMode) throws -> UInt32 {
        let program = try XDPProgram(.decap, interface: interface, mode: mode)
        try program.attach()
        let id = program.programID
        program.leaveAttached()
        return id
    }

    /// Removes our decapsulation program from the interface; false when none was there.
    public static func detach(interface: String) throws -> Bool {
        try XDPProgram.detachAny(programNamed: XDPProgramObject.decap.programName, interface: interface)
    }
}
