/// A backend drawn at random with probability weight / total weight: O(1) per pick through an
/// alias table. Stateless between picks, so it needs no coordination between workers; give
/// each worker its own `seed` or they draw the same sequence.
public struct WeightedRandom: BalancingStrategy {
    public static let name = "random"

    @usableFromInline let indices: [Int]
    @usableFromInline let table: AliasTable
    @usableFromInline var random: SplitMix64

    public init(backends: [BackendEntry], options: StrategyOptions) {
        indices = backends.map(\.index)
        table = AliasTable(weights: backends.map(\.weight))
        random = SplitMix64(seed: options.seed)
    }

    @inlinable
    public mutating func reseed(_ seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    public mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        guard !indices.isEmpty else { return nil }
        return indices[table.draw(&random)]
    }
}
