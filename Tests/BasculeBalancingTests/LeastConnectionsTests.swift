import Testing
@testable import BasculeBalancing

@Test func leastConnectionsDistributionFollowsWeightsUnderChurn() {
    // Simulation: every pick opens a connection; once 200 are open, each pick is followed by
    // closing a random open one. Tolerance: ±1 percentage point over 100,000 picks.
    let pool = backends(weights: [1, 2, 3, 4])
    var strategy = LeastConnections(backends: pool, options: StrategyOptions())
    var load = Connections()
    var open = [Int]()
    var random = TestRandom(state: 42)
    var picks = [Int]()
    for _ in 0..<100_000 {
        let chosen = strategy.pick(PickContext(), load: load)!
        picks.append(chosen)
        load.active[chosen] += 1
        open.append(chosen)
        if open.count > 200 {
            let closing = random.next(below: open.count)
            load.active[open[closing]] -= 1
            open.swapAt(closing, open.count - 1)
            open.removeLast()
        }
    }
    #expect(worstDeviation(picks, from: pool) < 1)
}

@Test func leastConnectionsRotatesTiesFairly() {
    var strategy = LeastConnections(backends: backends(count: 4), options: StrategyOptions())
    let picks = (0..<400).map { _ in strategy.pick(PickContext(), load: Connections())! }
    #expect(Array(picks.prefix(4)) == [10, 20, 30, 40])
    for share in shares(picks).values { #expect(share == 0.25) }
}

@Test func leastConnectionsAvoidsABusyBackend() {
    var strategy = LeastConnections(backends: backends(count: 3), options: StrategyOptions())
    var load = Connections()
    load.active[10] = 1000
    var picksOfBusy = 0
    for _ in 0..<1000 {
        let chosen = strategy.pick(PickContext(), load: load)!
        load.active[chosen] += 1
        if chosen == 10 { picksOfBusy += 1 }
    }
    #expect(picksOfBusy == 0)
}

@Test func leastConnectionsComparesConnectionsPerUnitOfWeight() {
    // 4 connections on weight 4 (1 per unit) beat 2 on weight 1 (2 per unit).
    var strategy = LeastConnections(backends: backends(weights: [1, 4]), options: StrategyOptions())
    var load = Connections()
    load.active[10] = 2
    load.active[20] = 4
    #expect(strategy.pick(PickContext(), load: load) == 20)
    #expect(strategy.pick(PickContext(), load: load) == 20)
}
