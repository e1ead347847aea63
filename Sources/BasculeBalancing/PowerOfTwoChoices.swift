/// Two distinct backends drawn at random (weighted), the one with fewer active connections per
/// unit of weight wins. Nearly as good as least-connections at avoiding a loaded backend, but
/// O(1): it reads two counters, not n, and workers that read stale counters do not all pile
/// onto the same "least loaded" backend.
public struct PowerOfTwoChoices: BalancingStrategy {
    public static let name = "power-of-two"

    @usableFromInline let indices: [Int]
    @usableFromInline let weights: [Int]
    @usableFromInline let table: AliasTable
    @usableFromInline var random: SplitMix64

    public init(backends: [BackendEntry], options: StrategyOptions) {
        indices = backends.map(\.index)
        weights = backends.map(\.weight)
        table = AliasTable(weights: weights)
        random = SplitMix64(seed: options.seed)
    }

    @inlinable
    public mutating func reseed(_ seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    public mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        let count = indices.count
        guard count > 1 else { return indices.first }
        let first = table.draw(&random)
        var second = table.draw(&random)
        // A heavy backend is often drawn twice; a few redraws keep the second candidate
        // weighted, and the bounded fallback (uniform among the others) keeps pick O(1).
        var redraws = 0
        while second == first && redraws < 4 {
            second = table.draw(&random)
            redraws += 1
        }
        if second == first {
            second = (first + 1 + random.next(below: count - 1)) % count
        }
        let firstActive = load.activeConnections(backend: indices[first])
        let secondActive = load.activeConnections(backend: indices[second])
        // Ties go to the first draw, so with equal loads picks follow the weights exactly.
        let secondWins = secondActive &* weights[first] < firstActive &* weights[second]
        return indices[secondWins ? second : first]
    }
}
