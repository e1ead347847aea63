import Benchmark
import BasculeProxy

// The PROXY protocol header is parsed once per accepted connection on services that set
// `acceptProxy`, on the worker thread, before the backend connect: it must stay cheap and
// must not allocate. Inputs use documentation addresses.
let v1 = Array("PROXY TCP4 192.0.2.10 198.51.100.20 56324 443\r\nGET / HTTP/1.1\r\n".utf8)
let v1IPv6 = Array("PROXY TCP6 2001:db8::10 2001:db8::20 56324 443\r\n".utf8)
let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
// v2, PROXY command, TCP over IPv4: 12 bytes of addresses and ports.
let v2 = signature + [0x21, 0x11, 0x00, 0x0C, 192, 0, 2, 10, 198, 51, 100, 20, 0xDC, 0x04, 0x01, 0xBB]
// v2 over IPv6: 36 bytes.
let v2IPv6 = signature + [0x21, 0x21, 0x00, 0x24]
    + [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [0x10]
    + [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [0x20]
    + [0xDC, 0x04, 0x01, 0xBB]
// The first segment carried only part of a v1 line: the answer is "wait".
let partial = Array("PROXY TCP4 192.0.2.10 198.5".utf8)
let garbage = Array("GET / HTTP/1.1\r\nHost: example\r\n\r\n".utf8)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .nanoseconds,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )
    for (name, input, complete) in [("v1 TCP4", v1, true), ("v1 TCP6", v1IPv6, true), ("v2 IPv4", v2, true),
                                    ("v2 IPv6", v2IPv6, true), ("v1 partial", partial, false),
                                    ("not a header", garbage, false)] {
        // A benchmark of a header the parser refuses would time the wrong path.
        let result = input.withUnsafeBytes { ProxyProtocolParser.parse($0) }
        if case .complete = result { precondition(complete, "\(name) parsed") } else { precondition(!complete, "\(name): \(result)") }
        Benchmark("PROXY parse, \(name)") { benchmark in
            input.withUnsafeBytes { bytes in
                for _ in benchmark.scaledIterations {
                    blackHole(ProxyProtocolParser.parse(bytes))
                }
            }
        }
    }
}
