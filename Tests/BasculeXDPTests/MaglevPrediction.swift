import BasculeBalancing
import BasculeConfig

/// Where the proxy's maglev strategy sends each client: the same `StrategyRegistry` strategy
/// and `ClientHash` a proxy worker uses, built over the same backend identities as the lab's
/// configuration. What the XDP path must agree with.
struct MaglevPrediction {
    private let strategy: Strategy
    private let names: [String]

    private struct NoLoad: LoadSource {
        func activeConnections(backend index: Int) -> Int { 0 }
        // Maglev reads no loads; a strategy that did would see zeros.
        func withActiveCounts<R>(_ body: (UnsafePointer<UInt32>) -> R) -> R {
            let zeros = [UInt32](repeating: 0, count: 1024)
            return zeros.withUnsafeBufferPointer { body($0.baseAddress!) }
        }
    }

    /// `backends`: (name, address) in configuration order; only those in `eligible` take clients.
    init(backends: [(String, String)], port: UInt16 = 80, eligible: Set<String>? = nil) {
        names = backends.map(\.0)
        let entries = backends.enumerated().compactMap { index, backend -> BackendEntry? in
            guard eligible?.contains(backend.0) ?? true else { return nil }
            return BackendEntry(index: index, name: backend.0,
                                address: Endpoint(host: backend.1, port: port).description)
        }
        strategy = StrategyRegistry.make(named: "maglev", backends: entries, options: StrategyOptions())!
    }

    func backend(for client: String) -> String {
        let address = IPAddress(client)!
        let bytes = address.bytes
        let hash: UInt64
        if address.isIPv6 {
            let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            hash = ClientHash.ipv6(high: high, low: low, network: false)
        } else {
            hash = ClientHash.ipv4(bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }, network: false)
        }
        return names[strategy.pick(PickContext(clientHash: hash), load: NoLoad())!]
    }
}
