import CActiveCounts
import Testing
@testable import BasculeBalancing

// The least-connections scan is written three times (portable, AVX2, AVX-512) and picks one at
// load; these hold every body this CPU can run to one plain Swift answer, over the shapes that
// break vector code: lengths around the 8- and 16-lane blocks, holes, few and many ties, a
// lower key arriving late.

/// Offsets at the lowest key (holes excluded), in order; the lowest key, the largest count
/// outside holes and the tied slots' weights.
private func expectedScan(counts: [UInt32], scales: [UInt32], holes: [UInt32]?, weights: [UInt32])
    -> (ties: [UInt32], lowest: UInt32, maxCount: UInt32, tiedWeight: UInt64) {
    var lowest = UInt32.max
    var maxCount: UInt32 = 0
    for i in counts.indices where holes?[i] ?? 0 == 0 {
        lowest = min(lowest, counts[i] &* scales[i])
        maxCount = max(maxCount, counts[i])
    }
    let ties = counts.indices.filter { holes?[$0] ?? 0 == 0 && counts[$0] &* scales[$0] == lowest }
    return (ties.map { UInt32($0) }, lowest, maxCount, ties.reduce(0) { $0 + UInt64(weights[$1]) })
}

private let instructionSets: [(Int32, String)] = [(0, "portable"), (1, "AVX2"), (2, "AVX-512")]

@Test func everyLeastLoadedScanAgreesWithThePlainAnswer() {
    var random = TestRandom(state: 5)
    var ran = Set<String>()
    let lengths = Array(1...70) + [127, 128, 129, 255, 256, 257, 300, 301]
    for n in lengths {
        for round in 0..<24 {
            // Ranges 1 (everyone tied) to 1,000 (ties rare); a third of the rounds with holes,
            // and every eighth round descending, so the lowest keeps moving to later blocks.
            let range = [1, 2, 4, 50, 1000][round % 5]
            let scales = (0..<n).map { _ in UInt32(1 + random.next(below: 12)) }
            let weights = (0..<n).map { _ in UInt32(1 + random.next(below: 1000)) }
            var counts = (0..<n).map { _ in UInt32(random.next(below: range)) }
            if round % 8 == 7 { counts = (0..<n).map { UInt32(n - $0) } }
            var holes: [UInt32]? = nil
            if round % 3 == 1 {
                var mask = (0..<n).map { _ in random.next(below: 3) == 0 ? UInt32.max : 0 }
                mask[random.next(below: n)] = 0
                holes = mask
            }
            let expected = expectedScan(counts: counts, scales: scales, holes: holes, weights: weights)
            for (isa, name) in instructionSets {
                var ties = [UInt32](repeating: .max, count: n + 16)
                var found = bascule_least_loaded_found()
                let tied = ties.withUnsafeMutableBufferPointer { ties in
                    holes.withOptionalPointer { holes in
                        bascule_least_loaded_scan(isa, counts, scales, holes, weights, n, ties.baseAddress!, &found)
                    }
                }
                if tied < 0 { continue }  // SIZE_MAX: this CPU cannot run it
                ran.insert(name)
                let at = "\(name), n \(n), round \(round)"
                #expect(Array(ties.prefix(tied)) == expected.ties, "\(at)")
                #expect(found.lowest == expected.lowest, "\(at)")
                #expect(found.max_count == expected.maxCount, "\(at)")
                #expect(found.tied_weight == expected.tiedWeight, "\(at)")
            }
        }
    }
    #expect(ran.contains("portable"))
}

extension Optional where Wrapped == [UInt32] {
    fileprivate func withOptionalPointer<R>(_ body: (UnsafePointer<UInt32>?) -> R) -> R {
        guard let self else { return body(nil) }
        return self.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}

/// What least-connections must answer, written plainly: the least connections per unit of
/// weight, compared exactly. Equals share by weight: when the walk's expected steps (total
/// weight / tied weight) are no more than the tied, by walking the pool's smooth weighted
/// round-robin cycle and skipping the others; otherwise by smooth weighted round-robin over
/// them alone (first of the highest).
private struct LeastConnectionsModel {
    let weights: [Int]
    var cycle: [Int] = []
    var cursor = 0
    var current: [Int]
    /// How many picks walked the cycle and how many broke a tie over the tied alone.
    var walked = 0
    var brokeTies = 0

    init(weights: [Int]) {
        self.weights = weights
        current = [Int](repeating: 0, count: weights.count)
        var counters = current
        for _ in 0..<weights.reduce(0, +) { cycle.append(Self.smooth(&counters, among: Array(weights.indices), weights: weights)) }
    }

    mutating func pick(active: [Int]) -> Int {
        let lowest = weights.indices.min { active[$0] * weights[$1] < active[$1] * weights[$0] }!
        let tied = weights.indices.filter { active[$0] * weights[lowest] == active[lowest] * weights[$0] }
        if tied.count == 1 { return tied[0] }
        if tied.reduce(0, { $0 + weights[$1] }) * tied.count >= weights.reduce(0, +) {
            walked += 1
            while true {
                let position = cycle[cursor]
                cursor = (cursor + 1) % cycle.count
                if tied.contains(position) { return position }
            }
        }
        brokeTies += 1
        return Self.smooth(&current, among: tied, weights: weights)
    }

    static func smooth(_ current: inout [Int], among tied: [Int], weights: [Int]) -> Int {
        var chosen = tied[0]
        var total = 0
        for p in tied {
            current[p] += weights[p]
            total += weights[p]
            if current[p] > current[chosen] { chosen = p }
        }
        current[chosen] -= total
        return chosen
    }
}

@Test(arguments: [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 300])
func leastConnectionsPicksWhatThePlainModelPicks(poolSize: Int) {
    // Loads drawn from small ranges so most picks break a tie, among many backends and among
    // few; every pick opens a connection and some close, as in service. Slots spaced by 1
    // (packed) and 2 (holes between them).
    for spacing in [1, 2] {
        var random = TestRandom(state: UInt64(poolSize * 10 + spacing))
        let pool = (0..<poolSize).map {
            BackendEntry(index: 100 + $0, name: "b\($0)", address: "192.0.2.\($0 % 250 + 1):\(8000 + $0)",
                         weight: 1 + random.next(below: 4), slot: $0 * spacing)
        }
        var strategy = LeastConnections(backends: pool, options: StrategyOptions())
        var model = LeastConnectionsModel(weights: pool.map(\.weight))
        var load = Connections()
        var active = [Int](repeating: 0, count: poolSize)
        for step in 0..<600 {
            if step % 100 == 0 {
                // A fresh spread every 100 picks: all idle, a third idle, or loaded with a few
                // tied at the bottom.
                let (base, range) = [(0, 1), (0, 3), (3, 10)][(step / 100) % 3]
                for p in 0..<poolSize { active[p] = base + random.next(below: range) }
            }
            for p in 0..<poolSize { load.active[pool[p].slot] = UInt32(active[p]) }
            let chosen = strategy.pick(PickContext(), load: load)
            let expected = model.pick(active: active)
            #expect(chosen == pool[expected].index, "pool \(poolSize), spacing \(spacing), step \(step)")
            guard chosen == pool[expected].index else { return }
            active[expected] += 1
            let busy = active.indices.filter { active[$0] > 0 }
            if random.next(below: 2) == 0, !busy.isEmpty { active[busy[random.next(below: busy.count)]] -= 1 }
        }
        // Both tie-breaks must have run where both can: in small pools two tied backends
        // already make the walk the cheaper.
        if poolSize >= 2 { #expect(model.walked > 50) }
        if poolSize >= 31 { #expect(model.brokeTies > 50) }
    }
}

@Test func leastConnectionsDoesNotTrustAKeyThatWrapped() {
    // Weights 1 and 2 scale the counts by 2 and 1. Backend 10 holds 2^31 + 5 connections: its
    // 32-bit key wraps to 10 and would beat backend 20's 100, though it carries far more per
    // unit of weight. The pick must see through the wrap.
    var strategy = LeastConnections(backends: backends(weights: [1, 2]), options: StrategyOptions())
    var load = Connections()
    load.active[10] = (1 << 31) + 5
    load.active[20] = 100
    for _ in 0..<3 { #expect(strategy.pick(PickContext(), load: load) == 20) }
}
