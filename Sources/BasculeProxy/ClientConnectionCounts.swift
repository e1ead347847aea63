import BasculePosix
import CLinux

/// Connections per client address for `maxConnectionsPerClient`, shared by every worker and
/// taking no lock: a count-min sketch. Each client adds to two slots chosen by two hashes of
/// its address; its count is the smaller of the two. Collisions can only over-count, so a
/// client is never let past its limit; at worst a client sharing both slots with busy ones is
/// refused early, which at 65,536 slots per row needs thousands of concurrent clients.
///
/// The slots come from a hash keyed per process (SipHash through `Hasher`, seeded at random at
/// start, plus a key of our own): with a public hash a client could compute addresses that
/// share both slots with a victim and, holding a few connections from them, lock the victim
/// out. Nodes need not agree on per-client limits, so nothing is lost by each keeping its own.
final class ClientConnectionCounts: @unchecked Sendable {
    private static let slotsPerRow = 1 << 16
    private let counts: UnsafeMutablePointer<Int>
    private let key: UInt64

    init() {
        counts = .allocate(capacity: 2 * Self.slotsPerRow)
        counts.initialize(repeating: 0, count: 2 * Self.slotsPerRow)
        var random = SystemRandomNumberGenerator()
        key = random.next()
    }

    /// The client's identity in this sketch: its whole address (IPv4-mapped IPv6 as IPv4).
    func hash(_ peer: SocketAddress) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(key)
        if let v4 = peer.ipv4 {
            hasher.combine(v4)
        } else if let v6 = peer.ipv6 {
            hasher.combine(v6.high)
            hasher.combine(v6.low)
        }
        return UInt64(truncatingIfNeeded: hasher.finalize())
    }

    deinit { counts.deallocate() }

    private func slots(_ hash: UInt64) -> (Int, Int) {
        let mask = UInt64(Self.slotsPerRow - 1)
        return (Int(hash & mask), Self.slotsPerRow + Int((hash >> 32) & mask))
    }

    /// Takes a place for the client, or returns false (taking nothing) when it is at `limit`.
    func acquire(_ hash: UInt64, limit: Int) -> Bool {
        let (a, b) = slots(hash)
        let first = cl_atomic_add(counts + a, 1)
        let second = cl_atomic_add(counts + b, 1)
        if min(first, second) > limit {
            release(hash)
            return false
        }
        return true
    }

    func release(_ hash: UInt64) {
        let (a, b) = slots(hash)
        _ = cl_atomic_add(counts + a, -1)
        _ = cl_atomic_add(counts + b, -1)
    }
}
