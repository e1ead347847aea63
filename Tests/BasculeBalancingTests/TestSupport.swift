import BasculeBalancing

/// Active connections per `BackendEntry.index` (= slot here), contiguous as in the proxy's
/// count store.
struct Connections: LoadSource {
    var active: [UInt32]

    init(capacity: Int = 1024) {
        active = [UInt32](repeating: 0, count: capacity)
    }

    func activeConnections(backend index: Int) -> Int { Int(active[index]) }

    func withActiveCounts<R>(_ body: (UnsafePointer<UInt32>) -> R) -> R {
        active.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// Backends named b0, b1, ... with the given weights; indices spaced out (10, 20, ...) so a
/// strategy returning positions instead of `BackendEntry.index` is caught.
func backends(weights: [Int]) -> [BackendEntry] {
    weights.enumerated().map { i, weight in
        BackendEntry(index: (i + 1) * 10, name: "b\(i)", address: "10.0.0.\(i + 1):8080", weight: weight)
    }
}

func backends(count: Int) -> [BackendEntry] {
    backends(weights: [Int](repeating: 1, count: count))
}

/// A deterministic stream of well-spread client hashes for the hashing strategies.
func clientHashes(_ count: Int, seed: UInt64 = 1) -> [UInt64] {
    (0..<count).map { StableHash.mix64(UInt64($0) &+ seed &* 0x1_0000_0000) }
}

/// Fraction of picks per `BackendEntry.index`.
func shares(_ picks: [Int]) -> [Int: Double] {
    var counts = [Int: Int]()
    for p in picks { counts[p, default: 0] += 1 }
    return counts.mapValues { Double($0) / Double(picks.count) }
}

/// Largest distance, in percentage points, between the picked shares and the weights' shares.
func worstDeviation(_ picks: [Int], from backends: [BackendEntry]) -> Double {
    let observed = shares(picks)
    let total = Double(backends.reduce(0) { $0 + $1.weight })
    return backends.map { abs((observed[$0.index] ?? 0) - Double($0.weight) / total) * 100 }.max() ?? 0
}

/// Deterministic draws for the simulations (release which connection, and when).
struct TestRandom {
    var state: UInt64
    mutating func next(below bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Int(StableHash.mix64(state) % UInt64(bound))
    }
}

/// Simulates churn: every pick opens a connection on the chosen backend; once `open` are open,
/// each pick is followed by closing a random open one. Returns the picks in order.
func churnPicks<Strategy: BalancingStrategy>(_ strategy: inout Strategy, picks count: Int = 100_000,
                                              open limit: Int = 200, seed: UInt64) -> [Int] {
    var load = Connections()
    var open = [Int]()
    var random = TestRandom(state: seed)
    var picks = [Int]()
    picks.reserveCapacity(count)
    for _ in 0..<count {
        let chosen = strategy.pick(PickContext(), load: load)!
        picks.append(chosen)
        load.active[chosen] += 1
        open.append(chosen)
        if open.count > limit {
            let closing = random.next(below: open.count)
            load.active[open[closing]] -= 1
            open.swapAt(closing, open.count - 1)
            open.removeLast()
        }
    }
    return picks
}
