import Benchmark
import BasculeProxy

// The ClientHello is read once per connection on addresses that route by serverNames, on the
// worker thread, before the route (and so the backend) is known: it must stay cheap and must
// not allocate. The inputs are ClientHellos as curl (OpenSSL 3, TLS 1.3, post-quantum key
// share absent) and a browser-sized one would send, built field by field.
func clientHello(name: String?, alpn: [String], padding: Int) -> [UInt8] {
    func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    var extensions: [UInt8] = []
    if let name {
        let entry = [0] + u16(name.utf8.count) + Array(name.utf8)
        extensions += [0, 0] + u16(entry.count + 2) + u16(entry.count) + entry
    }
    if !alpn.isEmpty {
        let list = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        extensions += [0, 16] + u16(list.count + 2) + u16(list.count) + list
    }
    // supported_versions, then key_share-sized opaque data, then padding (RFC 7685).
    extensions += [0, 43, 0, 3, 2, 3, 4]
    extensions += [0, 51] + u16(38) + u16(36) + [0, 29, 0, 32] + [UInt8](repeating: 0x42, count: 32)
    extensions += [0, 21] + u16(padding) + [UInt8](repeating: 0, count: padding)
    var body: [UInt8] = [3, 3] + [UInt8](repeating: 0xA5, count: 32) + [32] + [UInt8](repeating: 0x5A, count: 32)
    body += u16(62) + [UInt8](repeating: 0x13, count: 62) + [1, 0] + u16(extensions.count) + extensions
    let message = [1, 0] + u16(body.count) + body
    return [22, 3, 1] + u16(message.count) + message
}

/// The same ClientHello cut into two records (a client that splits at a fixed size).
func twoRecords(_ records: [UInt8]) -> [UInt8] {
    let message = Array(records[5...])
    let half = message.count / 2
    return [22, 3, 1, UInt8(half >> 8), UInt8(half & 0xFF)] + message[..<half]
        + [22, 3, 1, UInt8((message.count - half) >> 8), UInt8((message.count - half) & 0xFF)] + message[half...]
}

let curlLike = clientHello(name: "api.example.com", alpn: ["h2", "http/1.1"], padding: 200)
let browserLike = clientHello(name: "www.example.com", alpn: ["h2", "http/1.1"], padding: 1400)
let noName = clientHello(name: nil, alpn: [], padding: 200)
let plainHTTP = Array("GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n".utf8)
let routes = ServerNameRoutes(routes: [.init(service: 0, serverNames: ["www.example.com", "example.com"]),
                                       .init(service: 1, serverNames: ["*.example.com"]),
                                       .init(service: 2, serverNames: ["api.example.com"], alpn: ["h2"])],
                              defaultService: 3)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .nanoseconds,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: ClientHelloReader.defaultMaximumBytes, alignment: 16)
    for (name, input, complete) in [("curl-like, 1 record", curlLike, true), ("browser-like 1.7 KB, 1 record", browserLike, true),
                                    ("curl-like, 2 records", twoRecords(curlLike), true), ("no SNI", noName, true),
                                    ("curl-like, first 300 bytes", Array(curlLike[0..<300]), false),
                                    ("plain HTTP", plainHTTP, false)] {
        // A benchmark of an input the reader refuses would time the wrong path.
        let result = input.withUnsafeBytes { ClientHelloReader.read($0, scratch: scratch) }
        if case .complete = result { precondition(complete, "\(name) parsed") } else { precondition(!complete, "\(name): \(result)") }
        Benchmark("ClientHello read, \(name)") { benchmark in
            input.withUnsafeBytes { bytes in
                for _ in benchmark.scaledIterations {
                    blackHole(ClientHelloReader.read(bytes, scratch: scratch))
                }
            }
        }
    }
    Benchmark("ClientHello read + route pick, curl-like") { benchmark in
        curlLike.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                if case .complete(let hello) = ClientHelloReader.read(bytes, scratch: scratch) {
                    blackHole(routes.pick(hello))
                }
            }
        }
    }
}
