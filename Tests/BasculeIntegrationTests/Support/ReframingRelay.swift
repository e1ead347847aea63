import BasculePosix
import BasculeTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A one-connection TCP relay between a TLS client (openssl s_client) and the balancer that
/// delivers the client's first TLS record differently: one byte per segment, or re-framed as
/// two records. Re-framing is legal TLS (the handshake transcript covers messages, not
/// records), so the handshake still completes: the backend that answers proves the balancer
/// read the name from a ClientHello that arrived the hard way.
final class ReframingRelay: @unchecked Sendable {
    enum Delivery: Sendable {
        case oneByteAtATime
        case twoRecords
    }

    let port: UInt16
    private let listener: Int32

    init(to target: UInt16, delivery: Delivery) throws {
        listener = try BlockingSocket.listen(on: testAddress("127.0.0.1", 0), backlog: 1)
        port = try BlockingSocket.boundPort(listener)
        let listener = self.listener
        Thread.detachNewThread {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            try? BlockingSocket.setTimeouts(client, seconds: 10)
            guard let upstream = try? BlockingSocket.connect(to: testAddress("127.0.0.1", target),
                                                             timeoutSeconds: 10) else { return }
            defer { close(upstream) }
            guard let record = Self.readRecord(client) else { return }
            switch delivery {
            case .oneByteAtATime:
                for byte in record {
                    guard (try? BlockingSocket.writeAll(upstream, [byte])) != nil else { return }
                    usleep(1000)
                }
            case .twoRecords:
                let message = Array(record[5...])
                let half = message.count / 2
                var reframed = Array(record[0..<3]) + [UInt8(half >> 8), UInt8(half & 0xFF)] + message[..<half]
                reframed += Array(record[0..<3]) + [UInt8((message.count - half) >> 8), UInt8((message.count - half) & 0xFF)] + message[half...]
                guard (try? BlockingSocket.writeAll(upstream, reframed)) != nil else { return }
            }
            Thread.detachNewThread { Self.pump(from: upstream, to: client) }
            Self.pump(from: client, to: upstream)
        }
    }

    deinit {
        close(listener)
    }

    /// The first TLS record, header and all.
    private static func readRecord(_ fd: Int32) -> [UInt8]? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while bytes.count < 5 || bytes.count < 5 + (Int(bytes[3]) << 8 | Int(bytes[4])) {
            guard let count = try? buffer.withUnsafeMutableBytes({ try BlockingSocket.read(fd, into: $0) }), count > 0 else { return nil }
            bytes += buffer[0..<count]
        }
        // The client sends nothing more before the server answers, so this is one record.
        return bytes
    }

    private static func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while let count = try? buffer.withUnsafeMutableBytes({ try BlockingSocket.read(source, into: $0) }), count > 0 {
            guard (try? BlockingSocket.writeAll(destination, Array(buffer[0..<count]))) != nil else { break }
        }
        BlockingSocket.shutdownWrite(destination)
    }
}
