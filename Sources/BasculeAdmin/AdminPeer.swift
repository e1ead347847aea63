import BasculePosix

/// A client's address without its port, for the per-peer connection cap: IPv4 is kept in its
/// IPv4-mapped form, so a peer is one peer whichever family its socket reports.
struct AdminPeer: Hashable {
    let high: UInt64
    let low: UInt64

    init(_ address: SocketAddress) {
        if let v4 = address.ipv4 {
            high = 0
            low = 0xFFFF_0000_0000 | UInt64(v4)
        } else if let v6 = address.ipv6 {
            high = v6.high
            low = v6.low
        } else {
            high = 0
            low = 0
        }
    }
}
