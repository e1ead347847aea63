// swift-tools-version:6.1
import PackageDescription

// Micro-benchmarks (strategy pick, Maglev build, PROXY header parse, ClientHello read), in their own package so
// the product's build and `swift test` never fetch or compile package-benchmark.
// Needs the root package to export the BasculeBalancing and BasculeProxy libraries.
let package = Package(
    name: "StrategyBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Bascule", path: "../.."),
        // Only the malloc interposer trait: the default RuntimeInterposer trait would pull in
        // another repository that is not needed to count allocations and time picks.
        .package(url: "https://github.com/ordo-one/package-benchmark", exact: "1.38.1",
                 traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "StrategyPick",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "BasculeBalancing", package: "Bascule"),
            ],
            path: "Benchmarks/StrategyPick",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "MaglevBuild",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "BasculeBalancing", package: "Bascule"),
            ],
            path: "Benchmarks/MaglevBuild",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "ProxyParse",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "BasculeProxy", package: "Bascule"),
            ],
            path: "Benchmarks/ProxyParse",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "ClientHelloParse",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "BasculeProxy", package: "Bascule"),
            ],
            path: "Benchmarks/ClientHelloParse",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
