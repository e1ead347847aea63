import Testing
@testable import BasculeBalancing

@Test func randomDistributionFollowsWeights() {
    // Tolerance: ±1 percentage point over 100,000 picks (binomial σ is at most 0.16 pp).
    let pool = backends(weights: [1, 2, 3, 4, 10])
    var strategy = WeightedRandom(backends: pool, options: StrategyOptions(seed: 3))
    let picks = (0..<100_000).map { _ in strategy.pick(PickContext(), load: Connections())! }
    #expect(worstDeviation(picks, from: pool) < 1)
}

@Test func randomIsReproducibleFromItsSeedAndVariesWithIt() {
    let pool = backends(count: 10)
    var a = WeightedRandom(backends: pool, options: StrategyOptions(seed: 9))
    var b = WeightedRandom(backends: pool, options: StrategyOptions(seed: 9))
    var c = WeightedRandom(backends: pool, options: StrategyOptions(seed: 10))
    let pa = (0..<50).map { _ in a.pick(PickContext(), load: Connections())! }
    let pb = (0..<50).map { _ in b.pick(PickContext(), load: Connections())! }
    let pc = (0..<50).map { _ in c.pick(PickContext(), load: Connections())! }
    #expect(pa == pb)
    #expect(pa != pc)
}

@Test func aliasTableProbabilitiesAreExact() {
    // Every column's keep-threshold plus what other columns alias to it adds up to exactly
    // weight × count units of `total`.
    let weights = [3, 1, 7, 2, 2, 11]
    let table = AliasTable(weights: weights)
    var units = [UInt64](repeating: 0, count: weights.count)
    for column in weights.indices {
        units[column] += table.threshold[column]
        units[table.alias[column]] += table.scale - table.threshold[column]
    }
    #expect(units == weights.map { UInt64($0 * weights.count) })
}
