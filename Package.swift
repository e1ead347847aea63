// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Bascule",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bascule", targets: ["bascule"]),
        .executable(name: "bascule-backend", targets: ["bascule-backend"]),
        // For Benchmarks/Strategies, a package of its own so CI does not build package-benchmark.
        .library(name: "BasculeBalancing", targets: ["BasculeBalancing"]),
        .library(name: "BasculeProxy", targets: ["BasculeProxy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        // Declarations the Glibc module does not export (epoll, eventfd, timerfd, signalfd, splice, pipe2, accept4).
        .target(name: "CLinux"),
        // The system's DNS stub resolver and its message parser (glibc libresolv), for backends by name.
        .target(name: "CResolv", linkerSettings: [.linkedLibrary("resolv")]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),

        // The socket floor: one socket address, the errno policy, socket calls, threads.
        .target(name: "BasculePosix", dependencies: ["CLinux"], swiftSettings: strict),
        // The active-connection counts' atomics and least-connections' vector scan.
        .target(name: "CActiveCounts"),
        .target(name: "BasculeBalancing", dependencies: ["CActiveCounts"], swiftSettings: strict),

        // The kernel data plane: libbpf (a C shim over its headers, and the map layouts shared
        // with the program), the XDP program compiled by clang -target bpf at build time
        // (BPFObjectPlugin runs BPFObjectEmbedder), and its loader.
        .target(name: "CBPF", linkerSettings: [.linkedLibrary("bpf")]),
        .executableTarget(name: "BPFObjectEmbedder"),
        .plugin(name: "BPFObjectPlugin", capability: .buildTool(), dependencies: ["BPFObjectEmbedder"]),
        .target(name: "BasculeXDP", dependencies: ["CBPF", "BasculeBalancing", "BasculeConfig"],
                exclude: ["BPF"], swiftSettings: strict, plugins: ["BPFObjectPlugin"]),
        .target(name: "BasculeConfig", swiftSettings: strict),
        .target(name: "BasculeEventLoop", dependencies: ["BasculePosix", "CLinux"], swiftSettings: strict),
        .target(name: "BasculeProxy",
                dependencies: ["BasculePosix", "BasculeEventLoop", "BasculeBalancing", "BasculeConfig", "CLinux", "CResolv", "CActiveCounts",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        .target(name: "BasculeHealth",
                dependencies: ["BasculePosix", "BasculeEventLoop", "BasculeConfig", "CLinux", "COpenSSL",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        .target(name: "BasculeAdmin",
                dependencies: ["BasculePosix", "BasculeEventLoop", "BasculeConfig", "BasculeProxy", "BasculeHealth", "BasculeXDP", "CLinux",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        .target(name: "BasculeBackendService",
                dependencies: ["BasculePosix", "BasculeConfig", "CLinux", "COpenSSL",
                               .product(name: "ArgumentParser", package: "swift-argument-parser")],
                swiftSettings: strict),

        // bascule-backend is listed so that `swift run bascule demo` builds it too: the demo starts
        // its backends as bascule-backend processes found beside bascule.
        .executableTarget(name: "bascule",
                          dependencies: ["BasculePosix", "BasculeProxy", "BasculeConfig", "BasculeBalancing", "BasculeHealth", "BasculeAdmin", "BasculeXDP",
                                         "BasculeBackendService", "bascule-backend",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")],
                          swiftSettings: strict),
        .executableTarget(name: "bascule-backend",
                          dependencies: ["BasculeBackendService",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: strict),

        // Shared by the test targets: loopback clients and servers, free ports, readiness waits,
        // and child processes that die with the test runner (the C part forks with PDEATHSIG).
        .target(name: "CBasculeTestSupport", path: "Tests/CBasculeTestSupport"),
        .target(name: "BasculeTestSupport",
                dependencies: ["CBasculeTestSupport", "BasculePosix", "BasculeConfig", "BasculeEventLoop", "CLinux"],
                path: "Tests/BasculeTestSupport", swiftSettings: strict),

        .testTarget(name: "BasculePosixTests", dependencies: ["BasculePosix"], swiftSettings: strict),
        .testTarget(name: "BasculeBalancingTests", dependencies: ["BasculeBalancing", "CActiveCounts"], swiftSettings: strict),
        .testTarget(name: "BasculeConfigTests", dependencies: ["BasculeConfig"], swiftSettings: strict),
        .testTarget(name: "BasculeEventLoopTests", dependencies: ["BasculeEventLoop", "CLinux", "BasculeTestSupport"], swiftSettings: strict),
        .testTarget(name: "BasculeProxyTests", dependencies: ["BasculeProxy", "BasculePosix"], swiftSettings: strict),
        .testTarget(name: "BasculeHealthTests", dependencies: ["BasculeHealth", "BasculeEventLoop", "BasculeTestSupport"], swiftSettings: strict),
        .testTarget(name: "BasculeAdminTests", dependencies: ["BasculeAdmin", "BasculeProxy", "BasculePosix", "BasculeTestSupport"], swiftSettings: strict),
        .testTarget(name: "BasculeXDPTests",
                    dependencies: ["BasculeXDP", "BasculeBalancing", "BasculeConfig", "BasculeTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "BasculeIntegrationTests",
                    dependencies: ["BasculeBackendService", "BasculePosix", "BasculeConfig", "CLinux", "COpenSSL", "BasculeTestSupport"],
                    swiftSettings: strict),
    ]
)
