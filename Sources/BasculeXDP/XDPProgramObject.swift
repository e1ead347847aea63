/// The XDP programs' ELF objects, compiled from `BPF/*.c` by clang during the build
/// (Plugins/BPFObjectPlugin) and embedded as hex in a generated source.
struct XDPProgramObject: Sendable {
    /// The program's name as the kernel reports it (`bpftool prog`, `ip link`): how a restarted
    /// Bascule recognises the program a crashed one left attached.
    let programName: String
    let bytes: [UInt8]

    /// The balancer's program (xdp_forward.c).
    static let forward = XDPProgramObject(programName: "bascule_xdp", hex: xdpForwardObjectHex)
    /// The backend's decapsulation for kernels without IP-in-IP devices (xdp_decap.c).
    static let decap = XDPProgramObject(programName: "bascule_decap", hex: xdpDecapObjectHex)

    /// Any object, for tests of the loader itself.
    init(programName: String, bytes: [UInt8]) {
        self.programName = programName
        self.bytes = bytes
    }

    private init(programName: String, hex: StaticString) {
        self.programName = programName
        bytes = hex.withUTF8Buffer { hex in
            var bytes = [UInt8]()
            bytes.reserveCapacity(hex.count / 2)
            var index = 0
            while index + 1 < hex.count {
                bytes.append(Self.nibble(hex[index]) << 4 | Self.nibble(hex[index + 1]))
                index += 2
            }
            return bytes
        }
    }

    private static func nibble(_ digit: UInt8) -> UInt8 {
        digit >= UInt8(ascii: "a") ? digit - UInt8(ascii: "a") + 10 : digit - UInt8(ascii: "0")
    }
}
