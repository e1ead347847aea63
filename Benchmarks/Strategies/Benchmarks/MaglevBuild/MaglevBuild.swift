import BasculeBalancing
import Benchmark

func backends(_ count: Int) -> [BackendEntry] {
    (0..<count).map {
        BackendEntry(index: $0, name: "backend\($0)", address: "10.0.\($0 / 256).\($0 % 256):8080",
                     weight: 1 + $0 % 4)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        timeUnits: .microseconds,
        maxDuration: .seconds(2),
        maxIterations: 200
    )
    for count in [10, 100, 1000] {
        let pool = backends(count)
        Benchmark("Maglev table build, \(count) backends") { benchmark in
            blackHole(MaglevTable(backends: pool, size: 65537))
        }
    }
    // The other table-building strategy, for comparison (rebuilt on every membership or
    // slow-start weight change).
    for count in [10, 100, 300] {
        let pool = backends(count)
        Benchmark("source-hash build, \(count) backends") { benchmark in
            blackHole(SourceHash(backends: pool, options: StrategyOptions()))
        }
    }
}
