import Testing
@testable import BasculeBalancing

private func isPrime(_ n: Int) -> Bool {
    n >= 2 && !(2..<max(2, Int(Double(n).squareRoot()) + 1)).contains { n % $0 == 0 && n != $0 }
}

@Test(arguments: [1, 10, 100, 1000])
func maglevTableSizeIsAPrimeOfAtLeast100PerBackend(count: Int) {
    let table = MaglevTable(backends: backends(count: count), size: 65537)
    #expect(isPrime(table.size))
    #expect(table.size >= 100 * count)
    #expect(table.size >= 65537)
    #expect(table.slots.count == table.size)
    if count <= 655 { #expect(table.size == 65537) }
}

@Test func maglevTableSizeRoundsARequestedSizeUpToAPrime() {
    #expect(MaglevTable.tableSize(requested: 1000, backendCount: 3) == 1009)
    #expect(MaglevTable.tableSize(requested: 65537, backendCount: 1000) == 100_003)
}

@Test(arguments: [5, 10, 100])
func maglevBalancesEvenlyWithin10Percent(count: Int) {
    let table = MaglevTable(backends: backends(count: count), size: 65537)
    let even = Double(table.size) / Double(count)
    for slots in table.slotCounts {
        #expect(abs(Double(slots) - even) / even < 0.10)
    }
}

@Test func maglevDistributionFollowsWeights() {
    // Table shares within ±0.5 pp of the weights; 100,000 lookups within ±1 pp.
    let pool = backends(weights: [1, 2, 3, 4])
    let table = MaglevTable(backends: pool, size: 65537)
    for (backend, slots) in zip(table.backends, table.slotCounts) {
        #expect(abs(Double(slots) / Double(table.size) - Double(backend.weight) / 10) < 0.005)
    }
    var strategy = Maglev(backends: pool, options: StrategyOptions())
    let picks = clientHashes(100_000).map { strategy.pick(PickContext(clientHash: $0), load: Connections())! }
    #expect(worstDeviation(picks, from: pool) < 1)
}

@Test func maglevTableDoesNotDependOnBackendOrder() {
    let pool = backends(weights: [1, 3, 1, 2, 5, 1, 1, 4])
    let table = MaglevTable(backends: pool, size: 65537)
    var random = TestRandom(state: 3)
    for _ in 0..<5 {
        var shuffled = pool
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) {
            shuffled.swapAt(i, random.next(below: i + 1))
        }
        #expect(MaglevTable(backends: shuffled, size: 65537).slots == table.slots)
    }
}

@Test func maglevTableIsIdenticalAcrossNodesWhoseConfigsListBackendsDifferently() {
    // Another node's config lists the same backends in another order, so their indices differ;
    // the slots (positions in identity order) are byte-identical and name the same backends.
    let here = backends(count: 6)
    let there = here.reversed().enumerated().map { i, b in
        BackendEntry(index: i, name: b.name, address: b.address, weight: b.weight)
    }
    let a = MaglevTable(backends: here, size: 65537)
    let b = MaglevTable(backends: there, size: 65537)
    #expect(a.slots == b.slots)
    #expect(a.backends.map(\.name) == b.backends.map(\.name))
}

@Test func maglevTableBuiltTwiceIsIdentical() {
    let pool = backends(count: 50)
    #expect(MaglevTable(backends: pool, size: 65537).slots == MaglevTable(backends: pool, size: 65537).slots)
}

@Test func maglevTableIsFixedAcrossReleases() {
    // Golden values: nodes running different builds must agree, so the hashes and the
    // population order may not change by accident.
    let table = MaglevTable(backends: backends(count: 3), size: 1)
    #expect(table.size == 307)
    #expect(Array(table.slots.prefix(12)) == [0, 2, 2, 1, 2, 1, 2, 2, 0, 0, 1, 0])
}

@Test(arguments: [5, 10, 100])
func maglevRemovingOneBackendMovesAlmostOnlyItsSlots(count: Int) {
    // Maglev promises minimal disruption, not zero. Measured with these names: slots of
    // surviving backends that change owner are 0.10% (N=5), 0.20% (N=10), 0.60% (N=100) of
    // the table; asserted: under 1%, and every slot of the removed backend moves.
    let pool = backends(count: count)
    let removed = pool[count / 2]
    let before = MaglevTable(backends: pool, size: 65537)
    let after = MaglevTable(backends: pool.filter { $0 != removed }, size: 65537)
    #expect(before.size == after.size)
    var collateral = 0
    for slot in 0..<before.size {
        let old = before.backends[Int(before.slots[slot])].index
        let new = after.backends[Int(after.slots[slot])].index
        #expect(new != removed.index)
        if old != removed.index && old != new { collateral += 1 }
    }
    let fraction = Double(collateral) / Double(before.size)
    #expect(fraction < 0.01)
}

@Test func maglevKeepsAClientOnOneBackendAcrossWorkers() {
    let pool = backends(count: 10)
    var worker1 = Maglev(backends: pool, options: StrategyOptions(seed: 1))
    var worker2 = Maglev(backends: pool.reversed(), options: StrategyOptions(seed: 2))
    for hash in clientHashes(1000) {
        #expect(worker1.pick(PickContext(clientHash: hash), load: Connections())
                == worker2.pick(PickContext(clientHash: hash), load: Connections()))
    }
}
