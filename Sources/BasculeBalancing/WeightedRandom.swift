/// A backend drawn at random with probability weight / total weight: O(1) per pick through an
/// alias table. Stateless between picks, so it needs no coordination between workers; give
/// each worker its own `seed` or they draw the same sequence. A retry draws among the backends
/// not tried yet, still in proportion to weight.
public struct WeightedRandom: BalancingStrategy {
    public static let name = "random"

    @usableFromInline let indices: [Int]
    @usableFromInline let table: AliasTable
    @usableFromInline var random: SplitMix64
    @usableFromInline let retry: RetryDraw

    public init(backends: [BackendEntry], options: StrategyOptions) {
        indices = backends.map(\.index)
        table = AliasTable(weights: backends.map(\.weight))
        random = SplitMix64(seed: options.seed)
        retry = RetryDraw(backends: backends)
    }

    @inlinable
    public mutating func reseed(_ seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    // Not inlinable: it reads no load, and called through `Strategy` it measured cheaper
    // uninlined (e.g. round-robin 47 Ir per pick against 65).
    public mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        guard context.tried.isEmpty else { return retry.draw(hash: random.next(), excluding: context.tried) }
        guard !indices.isEmpty else { return nil }
        return indices[table.draw(&random)]
    }
}
