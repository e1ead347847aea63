@testable import BasculeAdmin
import BasculeConfig
import BasculeEventLoop
@testable import BasculeProxy
import Foundation
import Glibc
import Logging

/// A balancer stand-in: two services, state changed only through the AdminTarget calls.
final class FakeTarget: AdminTarget, @unchecked Sendable {
    struct Backend {
        var name: String
        var healthy = true
        var admin = AdminState.enabled
        var weight = 1
        var active = 0
        var total = 0
        var failures = 0
        var bytesIn: UInt64 = 0
        var bytesOut: UInt64 = 0
        var backup = false
        var reason = "initial state"
        var downs = 0
        var ups = 0
        var downtime = 0.0
        var maxConnections: Int?
        var agent: AgentVerdict?
    }
    struct Service {
        var name: String
        var backends: [Backend]
    }

    private let lock = NSLock()
    private var services: [Service]

    init(services: [Service] = FakeTarget.standard) {
        self.services = services
    }

    static let standard: [Service] = [
        Service(name: "web", backends: [
            Backend(name: "web-1", weight: 3, active: 2, total: 40, failures: 1, bytesIn: 1200, bytesOut: 5_000_000_000),
            Backend(name: "web-2", weight: 1, active: 1, total: 17),
            Backend(name: "web-3", backup: true),
        ]),
        Service(name: "db", backends: [Backend(name: "db-1", total: 5)]),
    ]

    func mutate(_ body: (inout [Service]) -> Void) {
        lock.withLock { body(&services) }
    }

    func backend(_ service: String, _ backend: String) -> Backend? {
        lock.withLock {
            services.first { $0.name == service }?.backends.first { $0.name == backend }
        }
    }

    func status() -> [ServiceStatus] {
        lock.withLock {
            services.map { service in
                ServiceStatus(name: service.name, listen: "127.0.0.1:0", strategy: "round-robin",
                              connectionsAccepted: service.backends.reduce(0) { $0 + $1.total } + 2, connectionsFailed: 2,
                              backends: service.backends.map { b in
                    let state = switch b.admin {
                    case .draining: "draining"
                    case .disabled: "disabled"
                    case .enabled: b.healthy ? "up" : "down"
                    }
                    var status = BackendStatus(name: b.name, address: "127.0.0.1:1", backup: b.backup, healthy: b.healthy,
                                         admin: b.admin, weight: b.weight, effectiveWeight: b.weight, state: state,
                                         activeConnections: b.active, totalConnections: b.total,
                                         connectFailures: b.failures, bytesIn: b.bytesIn, bytesOut: b.bytesOut,
                                         lastChangeReason: b.reason,
                                         secondsSinceLastChange: 1.5)
                    status.connectFailuresByReason = ConnectErrorReason.allCases.map { ($0, $0 == .refused ? b.failures : 0) }
                    status.downTransitions = b.downs
                    status.upTransitions = b.ups
                    status.downtimeSeconds = b.downtime
                    status.maxConnections = b.maxConnections
                    status.agent = b.agent
                    status.lastChangeTimestamp = 1_700_000_000.25
                    return status
                })
            }
        }
    }

    func setAdminState(service: Int, backend: Int, _ admin: AdminState, reason: String) {
        lock.withLock {
            services[service].backends[backend].admin = admin
            services[service].backends[backend].reason = reason
        }
    }

    func setWeight(service: Int, backend: Int, weight: Int, reason: String) {
        lock.withLock {
            services[service].backends[backend].weight = weight
            services[service].backends[backend].reason = reason
        }
    }

    func serviceIndex(named name: String) -> Int? {
        lock.withLock { services.firstIndex { $0.name == name } }
    }

    func backendIndex(service: Int, named name: String) -> Int? {
        lock.withLock { services[service].backends.firstIndex { $0.name == name } }
    }

    /// What the next reload answers: empty means applied.
    var reloadErrors: [String] = []
    var reloads = 0

    func reloadConfiguration() -> [String] {
        lock.withLock {
            reloads += 1
            return reloadErrors
        }
    }

    private var drainedReason: String?
    /// Set by a test to stand for a process that is shutting down.
    var shuttingDown = false

    var nodeUnreadyReason: String? {
        lock.withLock { shuttingDown ? "draining for shutdown" : drainedReason.map { _ in "node drained by operator" } }
    }

    func setNodeDrained(_ drained: Bool, reason: String) {
        lock.withLock { drainedReason = drained ? reason : nil }
    }

    var nodeDrainReason: String? { lock.withLock { drainedReason } }
}

/// Keeps every log message so tests can check what an operator would see.
final class LogRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }

    var logger: Logger {
        Logger(label: "bascule.admin.test") { _ in RecordingLogHandler(recorder: self) }
    }
}

struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        recorder.append("\(event.level) \(event.message) \(fields)")
    }
}

/// An admin server on its own event loop, driven by a background thread the way the
/// control thread drives it in the balancer.
final class RunningAdminServer: @unchecked Sendable {
    let target: FakeTarget
    let logs = LogRecorder()
    let port: UInt16
    private let loop: EventLoop
    private let server: AdminServer
    private let stopRequested = NSLock()
    private var shouldStop = false
    private let finished = DispatchSemaphore(value: 0)

    init(token: String = "", target: FakeTarget = FakeTarget(), options: AdminServer.Options = .init(),
         configure: (AdminServer) -> Void = { _ in }) throws {
        self.target = target
        loop = try EventLoop()
        server = try AdminServer(loop: loop, config: AdminConfig(listen: Endpoint(host: "127.0.0.1", port: 0), token: token),
                                 target: target, log: logs.logger, options: options)
        configure(server)
        port = server.boundPort
        let thread = Thread { [self] in
            while !stopRequested.withLock({ shouldStop }) {
                try? loop.runOnce(maxWaitMs: 20)
            }
            server.close()
            finished.signal()
        }
        thread.start()
    }

    func stop() {
        stopRequested.withLock { shouldStop = true }
        _ = finished.wait(timeout: .now() + 5)
    }
}

struct HTTPReply {
    let status: Int
    let headers: [String: String]
    let body: String
    let raw: String

    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A blocking loopback client with timeouts, so a server bug fails a test instead of hanging it.
enum TestClient {
    /// `source` binds another loopback address first, to be another peer.
    static func connect(port: UInt16, timeoutSeconds: Int = 5, source: String? = nil) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0)
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            precondition(bound == 0, "bind \(source) failed: errno \(errno)")
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(result == 0, "connect failed: errno \(errno)")
        return fd
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return }
            offset += count
        }
    }

    /// Everything until the server closes (or the timeout passes).
    static func readAll(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return out }
            out += chunk[0..<count]
        }
    }

    static func exchange(port: UInt16, raw: [UInt8]) -> HTTPReply? {
        let fd = connect(port: port)
        defer { close(fd) }
        send(fd, raw)
        return parse(readAll(fd))
    }

    static func request(port: UInt16, _ method: String, _ path: String, headers: [String: String] = [:],
                        body: String? = nil) -> HTTPReply? {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        return exchange(port: port, raw: Array(text.utf8))
    }

    static func parse(_ bytes: [UInt8]) -> HTTPReply? {
        let raw = String(decoding: bytes, as: UTF8.self)
        guard let split = raw.range(of: "\r\n\r\n") else { return nil }
        let lines = raw[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPReply(status: status, headers: headers, body: String(raw[split.upperBound...]), raw: raw)
    }
}
