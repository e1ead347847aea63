import Testing
@testable import BasculeBalancing

@Test func roundRobinVisitsEachBackendInTurnIgnoringWeights() {
    var strategy = RoundRobin(backends: backends(weights: [5, 1, 1]), options: StrategyOptions())
    let picks = (0..<6).map { _ in strategy.pick(PickContext(), load: Connections()) }
    #expect(picks == [10, 20, 30, 10, 20, 30])
}
