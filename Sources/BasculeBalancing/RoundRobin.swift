/// Each eligible backend in turn, ignoring weights.
public struct RoundRobin: BalancingStrategy {
    public static let name = "round-robin"

    private let indices: [Int]
    private var next: Int

    public init(backends: [BackendEntry], options: StrategyOptions) {
        indices = backends.map(\.index)
        // Workers start at different offsets (seed) so N workers do not all hit backend 0
        // with their first connection.
        next = indices.isEmpty ? 0 : Int(options.seed % UInt64(indices.count))
    }

    public mutating func reseed(_ seed: UInt64) {
        if !indices.isEmpty { next = Int(seed % UInt64(indices.count)) }
    }

    public mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        guard !indices.isEmpty else { return nil }
        let chosen = indices[next]
        next += 1
        if next == indices.count { next = 0 }
        return chosen
    }
}
