/// Each eligible backend in turn, ignoring weights. A retry is a uniform draw among the
/// backends not tried yet (`RetryDraw`): taking the next in turn would send every retried
/// client of a failed backend to the one after it.
public struct RoundRobin: BalancingStrategy {
    public static let name = "round-robin"

    @usableFromInline let indices: [Int]
    @usableFromInline var next: Int
    @usableFromInline let retry: RetryDraw
    @usableFromInline var retryRandom: SplitMix64

    public init(backends: [BackendEntry], options: StrategyOptions) {
        indices = backends.map(\.index)
        retry = RetryDraw(backends: backends, weighted: false)
        retryRandom = SplitMix64(seed: options.seed)
        // Workers start at different offsets (seed) so N workers do not all hit backend 0
        // with their first connection.
        next = indices.isEmpty ? 0 : Int(options.seed % UInt64(indices.count))
    }

    public mutating func reseed(_ seed: UInt64) {
        if !indices.isEmpty { next = Int(seed % UInt64(indices.count)) }
        retryRandom = SplitMix64(seed: seed)
    }

    // Not inlinable: it reads no load, and called through `Strategy` it measured cheaper
    // uninlined (e.g. round-robin 47 Ir per pick against 65).
    public mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        guard context.tried.isEmpty else { return retry.draw(hash: retryRandom.next(), excluding: context.tried) }
        guard !indices.isEmpty else { return nil }
        let chosen = indices[next]
        next += 1
        if next == indices.count { next = 0 }
        return chosen
    }
}
