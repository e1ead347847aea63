import Testing
@testable import BasculeBalancing

@Test func leastConnectionsDistributionFollowsWeightsUnderChurn() {
    // Simulation: every pick opens a connection; once 200 are open, each pick is followed by
    // closing a random open one. Tolerance: ±1 percentage point over 100,000 picks.
    let pool = backends(weights: [1, 2, 3, 4])
    var strategy = LeastConnections(backends: pool, options: StrategyOptions())
    let picks = churnPicks(&strategy, seed: 42)
    #expect(worstDeviation(picks, from: pool) < 1)
}

@Test func leastConnectionsRotatesTiesFairly() {
    var strategy = LeastConnections(backends: backends(count: 4), options: StrategyOptions())
    let picks = (0..<400).map { _ in strategy.pick(PickContext(), load: Connections())! }
    #expect(Array(picks.prefix(4)) == [10, 20, 30, 40])
    for share in shares(picks).values { #expect(share == 0.25) }
}

@Test func leastConnectionsFollowsTheWeightsWhenLoadsAreEqual() {
    // Sequential short connections: every backend is idle at each pick. nginx's least_conn
    // gives 1:1:2 here; rotating ties gave a third each.
    var strategy = LeastConnections(backends: backends(weights: [1, 1, 2]), options: StrategyOptions())
    let picks = (0..<400).map { _ in strategy.pick(PickContext(), load: Connections())! }
    #expect(shares(picks) == [10: 0.25, 20: 0.25, 30: 0.5])
    // Smooth WRR's cycle for 1, 1, 2: the heavy backend is spread through it, not bunched.
    #expect(Array(picks.prefix(4)) == [30, 10, 20, 30])
}

@Test func leastConnectionsBreaksTiesByWeightOnlyAmongTheLeastLoaded() {
    // 30 holds a connection, so the tie-break is between 10 and 20 alone.
    var strategy = LeastConnections(backends: backends(weights: [1, 1, 2]), options: StrategyOptions())
    var load = Connections()
    load.active[30] = 1
    let picks = (0..<100).map { _ in strategy.pick(PickContext(), load: load)! }
    #expect(shares(picks) == [10: 0.5, 20: 0.5])
}

@Test func leastConnectionsComparesUnevenWeightsExactly() {
    // Weights whose least common multiple passes 2^32 fall back to rounded scales; loads per
    // unit of weight that differ still order correctly.
    let weights = [4_294_967_291, 4_294_967_279, 1]
    var strategy = LeastConnections(backends: backends(weights: weights), options: StrategyOptions())
    var load = Connections()
    load.active[10] = 2
    load.active[20] = 1
    load.active[30] = 1
    #expect(strategy.pick(PickContext(), load: load) == 20)
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

@Test(arguments: [1, 2])
func leastConnectionsPicksALeastLoadedBackendAmongHundreds(slotSpacing: Int) {
    // 300 backends, their count slots packed (spacing 1) or with holes between them (2, as
    // after backends left the pool): under random loads the vector scan's choice always has
    // the fewest connections per unit of weight, and an idle hole never wins.
    let pool = (0..<300).map {
        BackendEntry(index: $0, name: "b\($0)", address: "10.0.\($0 / 256).\($0 % 256):80",
                     weight: 1 + $0 % 4, slot: $0 * slotSpacing)
    }
    var strategy = LeastConnections(backends: pool, options: StrategyOptions())
    var load = Connections()
    var random = TestRandom(state: 11)
    for round in 0..<500 {
        for backend in pool { load.active[backend.slot] = UInt32(1 + random.next(below: round % 2 == 0 ? 40 : 3)) }
        let chosen = strategy.pick(PickContext(), load: load)!
        let perWeight = { (b: BackendEntry) in Double(load.active[b.slot]) / Double(b.weight) }
        #expect(perWeight(pool[chosen]) == pool.map(perWeight).min()!)
    }
}
