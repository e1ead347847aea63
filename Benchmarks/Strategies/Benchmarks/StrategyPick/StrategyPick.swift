import BasculeBalancing
import Benchmark

/// Active connections per backend index (= slot), in one raw buffer as the proxy's count
/// store holds them (never freed: one per benchmark).
struct Counters: LoadSource {
    let active: UnsafeMutablePointer<UInt32>

    init(active: [UInt32]) {
        self.active = .allocate(capacity: max(1, active.count))
        self.active.initialize(from: active, count: active.count)
    }

    func activeConnections(backend index: Int) -> Int { Int(active[index]) }
    func withActiveCounts<R>(_ body: (UnsafePointer<UInt32>) -> R) -> R { body(active) }
}

func backends(_ count: Int) -> [BackendEntry] {
    (0..<count).map {
        BackendEntry(index: $0, name: "backend\($0)", address: "10.0.\($0 / 256).\($0 % 256):8080",
                     weight: 1 + $0 % 4)
    }
}

/// Through `Strategy`, the closed enum a worker holds, built by the registry: what a worker's
/// pick runs, specialised for the load source at this call site as the proxy's is.
/// `spread`: active counts are (i × 7919) mod spread, so 1 / spread of the backends tie at 0.
func registerPick(_ name: String, backends count: Int, spread: Int = 50, label: String = "") {
    Benchmark("\(name) pick, \(count) backends\(label)") { benchmark in
        let strategy = StrategyRegistry.make(named: name, backends: backends(count), options: StrategyOptions(seed: 1))!
        var random = UInt64(0x1234_5678)
        let load = Counters(active: (0..<count).map { UInt32(($0 * 7919) % spread) })
        // Distinct clients, so the hashing strategies touch their whole table as in service.
        let clients: [UInt64] = (0..<4096).map { _ in
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return random
        }
        var i = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(strategy.pick(PickContext(clientHash: clients[i & 4095]), load: load))
            i &+= 1
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    // Scaled by 1,000: each reported figure is per single pick.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .instructions, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .milliseconds(500),
        maxIterations: 10_000
    )
    for count in [3, 30, 300] {
        for name in StrategyRegistry.names { registerPick(name, backends: count) }
    }
    // least-connections breaks ties two ways (a walk of the weighted cycle, or smooth WRR
    // over the tied): every backend idle, a quarter idle, and a sixteenth idle (the walk's
    // and the list's costs cross near there).
    for (spread, label) in [(1, "all idle"), (4, "1 in 4 idle"), (16, "1 in 16 idle")] {
        registerPick("least-connections", backends: 300, spread: spread, label: ", \(label)")
    }
}
