import Testing
@testable import BasculeBalancing

/// nginx's smooth weighted round-robin, written plainly, as the reference.
private func referenceSmoothWRR(weights: [Int], picks: Int) -> [Int] {
    let total = weights.reduce(0, +)
    var current = [Int](repeating: 0, count: weights.count)
    return (0..<picks).map { _ in
        var best = 0
        for i in weights.indices {
            current[i] += weights[i]
            if current[i] > current[best] { best = i }
        }
        current[best] -= total
        return best
    }
}

@Test func smoothWRRInterleavesTheHeavyBackend() {
    // What "smooth" guarantees: for weights 5, 1, 1 the cycle is a a b a c a a, so within a
    // cycle the heavy backend gets at most 2 picks in a row; where two cycles meet (a a | a a)
    // it gets 4, so "never more than ceil(5 / 2)" does NOT hold for the repeating sequence, but
    // the burst of 5 that plain WRR gives never happens, and every window of 7 consecutive
    // picks holds exactly 5 a, 1 b and 1 c.
    var strategy = WeightedRoundRobin(backends: backends(weights: [5, 1, 1]), options: StrategyOptions())
    let picks = (0..<70).map { _ in strategy.pick(PickContext(), load: Connections())! }
    #expect(Array(picks.prefix(7)) == [10, 10, 20, 10, 30, 10, 10])
    #expect(longestRun(of: 10, in: Array(picks.prefix(7))) == 2)
    #expect(longestRun(of: 10, in: picks) == 4)
    for start in 0...(picks.count - 7) {
        let window = picks[start..<(start + 7)]
        #expect(window.filter { $0 == 10 }.count == 5)
        #expect(window.filter { $0 == 20 }.count == 1)
    }
}

private func longestRun(of backend: Int, in picks: [Int]) -> Int {
    var longest = 0, run = 0
    for p in picks {
        run = p == backend ? run + 1 : 0
        longest = max(longest, run)
    }
    return longest
}

@Test func smoothWRRMatchesTheReferenceAlgorithm() {
    let weights = [7, 3, 3, 1, 12, 5]
    var strategy = WeightedRoundRobin(backends: backends(weights: weights), options: StrategyOptions())
    let picks = (0..<500).map { _ in strategy.pick(PickContext(), load: Connections())! }
    #expect(picks == referenceSmoothWRR(weights: weights, picks: 500).map { ($0 + 1) * 10 })
}

@Test func smoothWRRWithoutPrecomputedCycleStillFollowsTheReference() {
    // Cycle length × backends exceeds the precompute budget: pick runs the smooth step live.
    let weights = [16_000_000, 8_000_001, 3]
    var strategy = WeightedRoundRobin(backends: backends(weights: weights), options: StrategyOptions())
    let picks = (0..<300).map { _ in strategy.pick(PickContext(), load: Connections())! }
    #expect(picks == referenceSmoothWRR(weights: weights, picks: 300).map { ($0 + 1) * 10 })
}

@Test func smoothWRRReducesWeightsByTheirCommonDivisor() {
    var strategy = WeightedRoundRobin(backends: backends(weights: [200, 100]), options: StrategyOptions())
    let picks = (0..<6).map { _ in strategy.pick(PickContext(), load: Connections())! }
    #expect(picks == [10, 20, 10, 10, 20, 10])
}

@Test func weightedRoundRobinDistributionFollowsWeights() {
    // Tolerance: ±0.1 percentage point (the cycle is exact; only the last partial cycle differs).
    let pool = backends(weights: [1, 2, 3, 4, 10])
    var strategy = WeightedRoundRobin(backends: pool, options: StrategyOptions(seed: 7))
    let picks = (0..<100_000).map { _ in strategy.pick(PickContext(), load: Connections())! }
    #expect(worstDeviation(picks, from: pool) < 0.1)
}

@Test func weightedRoundRobinWorkersStartAtDifferentPoints() {
    let pool = backends(weights: [1, 1, 1])
    var first = WeightedRoundRobin(backends: pool, options: StrategyOptions(seed: 0))
    var second = WeightedRoundRobin(backends: pool, options: StrategyOptions(seed: 1))
    #expect(first.pick(PickContext(), load: Connections()) != second.pick(PickContext(), load: Connections()))
}
