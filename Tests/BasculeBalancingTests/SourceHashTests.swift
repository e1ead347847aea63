import Testing
@testable import BasculeBalancing

private func owners(_ pool: [BackendEntry], _ hashes: [UInt64]) -> [Int] {
    var strategy = SourceHash(backends: pool, options: StrategyOptions())
    return hashes.map { strategy.pick(PickContext(clientHash: $0), load: Connections())! }
}

@Test func sourceHashDistributionFollowsWeights() {
    // 100,000 distinct client hashes; tolerance ±2 percentage points (the table has 4096
    // buckets, so each backend's share is itself quantised and sampled).
    let pool = backends(weights: [1, 2, 3, 4])
    #expect(worstDeviation(owners(pool, clientHashes(100_000)), from: pool) < 2)
    let even = backends(count: 7)
    #expect(worstDeviation(owners(even, clientHashes(100_000)), from: even) < 2)
}

@Test func sourceHashKeepsAClientOnOneBackend() {
    var strategy = SourceHash(backends: backends(count: 5), options: StrategyOptions())
    let client = ClientHash.ipv4(0xC000_0207, network: false)
    let first = strategy.pick(PickContext(clientHash: client), load: Connections())
    for _ in 0..<100 {
        #expect(strategy.pick(PickContext(clientHash: client), load: Connections()) == first)
    }
}

@Test func sourceHashIgnoresTheOrderOfTheBackends() {
    let pool = backends(weights: [3, 1, 2, 5, 1])
    let hashes = clientHashes(10_000)
    #expect(owners(pool, hashes) == owners(pool.reversed(), hashes))
    #expect(owners(pool, hashes) == owners([pool[2], pool[4], pool[0], pool[3], pool[1]], hashes))
}

@Test(arguments: [5, 10, 100])
func sourceHashRemovingABackendMovesOnlyItsClients(count: Int) {
    // Rendezvous hashing is exactly minimal: zero clients of surviving backends move.
    let pool = backends(count: count)
    let removed = pool[count / 2]
    let hashes = clientHashes(100_000)
    let before = owners(pool, hashes)
    let after = owners(pool.filter { $0 != removed }, hashes)
    var collateral = 0
    for (b, a) in zip(before, after) where b != removed.index && b != a { collateral += 1 }
    #expect(collateral == 0)
    #expect(!after.contains(removed.index))
}

@Test func sourceHashNetworkAffinityKeepsASlash24Together() {
    var strategy = SourceHash(backends: backends(count: 8), options: StrategyOptions())
    let base: UInt32 = 0xC633_6400  // 198.51.100.0/24
    let owner = strategy.pick(PickContext(clientHash: ClientHash.ipv4(base, network: true)), load: Connections())
    for host in UInt32(0)...255 {
        let hash = ClientHash.ipv4(base | host, network: true)
        #expect(strategy.pick(PickContext(clientHash: hash), load: Connections()) == owner)
    }
    // Different /24s spread over every backend, within ±3 pp of even (4096 networks).
    let pool = backends(count: 8)
    let networks = (UInt32(0)..<4096).map { ClientHash.ipv4(0x0A00_0000 | ($0 << 8) | 17, network: true) }
    #expect(worstDeviation(owners(pool, networks), from: pool) < 3)
}

@Test func sourceHashNetworkAffinityKeepsASlash64Together() {
    var strategy = SourceHash(backends: backends(count: 8), options: StrategyOptions())
    let prefix: UInt64 = 0x2001_0DB8_0000_0001
    let owner = strategy.pick(PickContext(clientHash: ClientHash.ipv6(high: prefix, low: 1, network: true)),
                              load: Connections())
    for low in [UInt64(2), 0xFFFF, 0xDEAD_BEEF_0000_0001, .max] {
        let hash = ClientHash.ipv6(high: prefix, low: low, network: true)
        #expect(strategy.pick(PickContext(clientHash: hash), load: Connections()) == owner)
    }
    let pool = backends(count: 8)
    let networks = (UInt64(0)..<4096).map {
        ClientHash.ipv6(high: 0x2001_0DB8_0000_0000 | $0, low: 1, network: true)
    }
    #expect(worstDeviation(owners(pool, networks), from: pool) < 3)
}
