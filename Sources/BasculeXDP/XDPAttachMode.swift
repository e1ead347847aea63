import CBPF

/// How the program is attached. Native (the driver runs it before any socket buffer exists)
/// is the only mode that forwards at XDP's speed; generic runs it after the stack has built
/// an skb, works on any device and is for trying things out. Attaching never falls back from
/// one to the other: native that fails is an error, generic happens only when configured.
public enum XDPAttachMode: String, Sendable, CaseIterable {
    case native
    case generic

    var flags: UInt32 {
        switch self {
        case .native: UInt32(XDP_FLAGS_DRV_MODE)
        case .generic: UInt32(XDP_FLAGS_SKB_MODE)
        }
    }
}
