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
    /// The server's open connection count, published by the loop thread after each turn.
    private var publishedConnections = 0
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
                let open = server.openConnectionCount
                stopRequested.withLock { publishedConnections = open }
            }
            server.close()
            finished.signal()
        }
        thread.start()
    }

    /// Connections the server holds open (as of its last loop turn, at most 20 ms ago).
    var openConnections: Int { stopRequested.withLock { publishedConnections } }

    func stop() {
        stopRequested.withLock { shouldStop = true }
        _ = finished.wait(timeout: .now() + 5)
    }
}
