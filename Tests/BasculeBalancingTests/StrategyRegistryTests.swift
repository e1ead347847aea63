import Testing
import BasculeBalancing

@Test func registryNamesEveryStrategy() {
    #expect(StrategyRegistry.names == [
        "round-robin", "weighted-round-robin", "least-connections", "random", "power-of-two",
        "source-hash", "maglev",
    ])
    #expect(StrategyRegistry.make(named: "nonesuch", backends: [], options: StrategyOptions()) == nil)
}

@Test(arguments: StrategyRegistry.names)
func everyStrategyReturnsNilWithoutBackends(name: String) {
    let strategy = StrategyRegistry.make(named: name, backends: [], options: StrategyOptions())!
    #expect(strategy.pick(PickContext(clientHash: 42), load: Connections()) == nil)
}

@Test(arguments: StrategyRegistry.names)
func everyStrategyReturnsOnlyIndicesItWasGiven(name: String) {
    // Not contiguous, not starting at 0: the indices of the eligible subset of a service.
    let given = [BackendEntry(index: 7, name: "x", address: "198.0.0.7:80", weight: 2),
                 BackendEntry(index: 3, name: "y", address: "198.0.0.3:80"),
                 BackendEntry(index: 11, name: "z", address: "198.0.0.11:80", weight: 5)]
    let strategy = StrategyRegistry.make(named: name, backends: given, options: StrategyOptions(seed: 1))!
    var picked = Set<Int>()
    for hash in clientHashes(3000) {
        picked.insert(strategy.pick(PickContext(clientHash: hash), load: Connections())!)
    }
    #expect(picked == [3, 7, 11])
}
