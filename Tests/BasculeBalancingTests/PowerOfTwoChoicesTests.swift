import Testing
@testable import BasculeBalancing

@Test func powerOfTwoWithEqualLoadsFollowsWeights() {
    // Tolerance: ±1 percentage point over 100,000 picks.
    let pool = backends(weights: [1, 2, 3, 4, 10])
    var strategy = PowerOfTwoChoices(backends: pool, options: StrategyOptions(seed: 5))
    let picks = (0..<100_000).map { _ in strategy.pick(PickContext(), load: Connections())! }
    #expect(worstDeviation(picks, from: pool) < 1)
}

@Test func powerOfTwoNeverPicksTheBusiestBackend() {
    // Candidates are distinct, so the one backend with 1000 connections always loses.
    var strategy = PowerOfTwoChoices(backends: backends(weights: [10, 1, 1]), options: StrategyOptions(seed: 1))
    var load = Connections()
    load.active[10] = 1000
    let picks = (0..<10_000).map { _ in strategy.pick(PickContext(), load: load)! }
    #expect(!picks.contains(10))
}

@Test func powerOfTwoKeepsLoadsBalancedUnderChurn() {
    // Simulation as for least-connections; ±2 percentage points, power-of-two being coarser.
    let pool = backends(weights: [1, 2, 3, 4])
    var strategy = PowerOfTwoChoices(backends: pool, options: StrategyOptions(seed: 11))
    let picks = churnPicks(&strategy, seed: 7)
    #expect(worstDeviation(picks, from: pool) < 2)
}

@Test func powerOfTwoWithOneBackendPicksIt() {
    var strategy = PowerOfTwoChoices(backends: backends(count: 1), options: StrategyOptions())
    #expect(strategy.pick(PickContext(), load: Connections()) == 10)
}
