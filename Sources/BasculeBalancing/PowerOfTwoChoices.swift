/// Two distinct backends drawn at random (weighted), the one with fewer active connections per
/// unit of weight wins. Nearly as good as least-connections at avoiding a loaded backend, but
/// O(1): it reads two counters, not n, and workers that read stale counters do not all pile
/// onto the same "least loaded" backend. On a retry both candidates are drawn among the
/// backends not tried yet.
public struct PowerOfTwoChoices: BalancingStrategy {
    public static let name = "power-of-two"

    @usableFromInline let indices: [Int]
    @usableFromInline let weights: [Int]
    @usableFromInline let table: AliasTable
    @usableFromInline var random: SplitMix64
    @usableFromInline let retry: RetryDraw
    /// Position in `indices` of each `BackendEntry.index`, for the candidates a retry draws.
    @usableFromInline let positions: [Int: Int]

    public init(backends: [BackendEntry], options: StrategyOptions) {
        indices = backends.map(\.index)
        weights = backends.map(\.weight)
        table = AliasTable(weights: weights)
        random = SplitMix64(seed: options.seed)
        retry = RetryDraw(backends: backends)
        positions = Dictionary(uniqueKeysWithValues: backends.enumerated().map { ($1.index, $0) })
    }

    @inlinable
    public mutating func reseed(_ seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    // Inlinable so the proxy's load source is specialised in: no witness-table call per
    // counter (268 Ir per pick without, 225 with).
    @inlinable
    public mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        guard context.tried.isEmpty else { return retryPick(context.tried, load: load) }
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
        return indices[lessLoaded(first, second, load: load)]
    }

    /// Of two positions, the one with fewer connections per unit of weight. Ties go to the
    /// first draw, so with equal loads picks follow the weights exactly.
    @inlinable
    func lessLoaded<Load: LoadSource>(_ first: Int, _ second: Int, load: Load) -> Int {
        let firstActive = load.activeConnections(backend: indices[first])
        let secondActive = load.activeConnections(backend: indices[second])
        return secondActive &* weights[first] < firstActive &* weights[second] ? second : first
    }

    @inlinable
    mutating func retryPick<Load: LoadSource>(_ tried: [Int], load: Load) -> Int? {
        guard let first = retry.draw(hash: random.next(), excluding: tried) else { return nil }
        var second = first
        for _ in 0..<4 where second == first {
            second = retry.draw(hash: random.next(), excluding: tried) ?? first
        }
        guard second != first, let a = positions[first], let b = positions[second] else { return first }
        return indices[lessLoaded(a, b, load: load)]
    }
}
