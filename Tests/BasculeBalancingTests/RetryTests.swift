import Testing
@testable import BasculeBalancing

/// A retry (attempt > 0, backends already tried) through every strategy of the registry.
@Suite("Retries")
struct RetryTests {
    @Test(arguments: StrategyRegistry.names)
    func aRetryNeverReturnsATriedBackendWhileAnotherRemains(name: String) {
        let pool = backends(weights: [1, 2, 3, 1, 5])
        let strategy = StrategyRegistry.make(named: name, backends: pool, options: StrategyOptions(seed: 3))!
        var random = TestRandom(state: 9)
        for hash in clientHashes(2000) {
            // A random proper subset of the pool, as left by earlier attempts.
            let tried = pool.map(\.index).filter { _ in random.next(below: 2) == 0 }.prefix(pool.count - 1)
            let picked = strategy.pick(PickContext(clientHash: hash, attempt: tried.count, tried: Array(tried)),
                                       load: Connections())
            #expect(picked.map { !tried.contains($0) } == true, "\(name) returned \(String(describing: picked)) after \(tried)")
        }
        let all = pool.map(\.index)
        #expect(strategy.pick(PickContext(clientHash: 1, attempt: all.count, tried: all), load: Connections()) == nil)
    }

    @Test(arguments: StrategyRegistry.names)
    func retriedClientsOfAFailedBackendSpreadOverTheSurvivors(name: String) {
        // Clients whose first choice is backend 10 fail there and retry: each of the three
        // survivors must take between a quarter and 42 % of them (a third each, ±8 points).
        let strategy = StrategyRegistry.make(named: name, backends: backends(count: 4), options: StrategyOptions(seed: 5))!
        var retried = [Int]()
        for hash in clientHashes(8000) {
            guard strategy.pick(PickContext(clientHash: hash), load: Connections()) == 10 else { continue }
            retried.append(strategy.pick(PickContext(clientHash: hash, attempt: 1, tried: [10]), load: Connections())!)
        }
        #expect(retried.count > 1000)
        let spread = shares(retried)
        #expect(spread[10] == nil)
        for survivor in [20, 30, 40] {
            #expect(abs((spread[survivor] ?? 0) - 1.0 / 3) < 0.08, "\(name): \(spread)")
        }
    }

    @Test(arguments: ["source-hash", "maglev"])
    func hashingStrategiesRetryIdenticallyWhateverTheFileOrder(name: String) {
        // Two nodes whose config files list the same backends in different orders.
        let pool = backends(weights: [1, 2, 3, 1, 5, 2])
        var shuffled = pool
        shuffled.reverse()
        shuffled.swapAt(0, 3)
        let nodeA = StrategyRegistry.make(named: name, backends: pool, options: StrategyOptions(seed: 1))!
        let nodeB = StrategyRegistry.make(named: name, backends: shuffled, options: StrategyOptions(seed: 2))!
        for hash in clientHashes(2000) {
            var tried = [Int]()
            for attempt in 0..<pool.count {
                let a = nodeA.pick(PickContext(clientHash: hash, attempt: attempt, tried: tried), load: Connections())
                let b = nodeB.pick(PickContext(clientHash: hash, attempt: attempt, tried: tried), load: Connections())
                #expect(a == b)
                guard let a else { break }
                tried.append(a)
            }
            #expect(tried.count == pool.count)
        }
    }

    @Test func aRetryDrawFollowsTheSurvivorsWeights() {
        // Survivors weighted 1, 2, 3 take 1/6, 2/6, 3/6 of the retries (±1.5 points).
        let draw = RetryDraw(backends: backends(weights: [4, 1, 2, 3]))
        let picks = clientHashes(60_000).map { draw.draw(hash: $0, excluding: [10])! }
        let observed = shares(picks)
        for (index, share) in [20: 1.0 / 6, 30: 2.0 / 6, 40: 3.0 / 6] {
            #expect(abs((observed[index] ?? 0) - share) < 0.015)
        }
    }
}
