import BasculeConfig
import BasculeEventLoop
import CLinux
import Glibc

/// Checks one backend of one service, over and over, on the control loop. One attempt at a
/// time: connect, the PROXY header when the service sends one to backends, then (http/https)
/// handshake, request and response, or (tcp) the send/expect steps; all non-blocking and
/// driven by epoll edges; the timer wheel starts attempts and bounds them by `timeoutMs`,
/// and each send/expect step by its own timeout.
final class BackendProbe: EventHandler {
    private enum Phase {
        case idle
        case connecting
        case preamble(offset: Int)
        case script(offset: Int)
        case handshaking
        case sending(offset: Int)
        case receiving
    }

    let service: Int
    let backend: Int
    let serviceName: String
    let backendName: String
    let config: HealthCheckConfig
    private let address: SocketAddress
    /// Where checks go when not the traffic address ("127.0.0.1:59999"), for status.
    let distinctTarget: String?
    /// Sent first on every attempt: the PROXY header (LOCAL / UNKNOWN, as HAProxy's checks
    /// send it) when the service sends one to backends, which then require it.
    private let preamble: [UInt8]
    private var script: TCPCheckScript?
    private var stepDeadlineMs: UInt64 = .max
    private let serverName: String
    private let tlsContext: OpaquePointer?
    private unowned let loop: EventLoop
    private var id = HandlerID.unregistered
    /// Told about every up/down transition with its reason ("http status 503 (2/2)").
    private let onTransition: (BackendProbe, Bool, String) -> Void
    private let starts: CheckStartBudget?

    private(set) var counter: RiseFallCounter
    private var snapshot: CheckResultSnapshot

    private var phase = Phase.idle
    private var fd: Int32 = -1
    private var tls: TLSClient?
    private var exchange: HTTPExchange?
    /// Bumped per attempt and used as the epoll tag, so a late event of a finished attempt
    /// can never be mistaken for one of the next (whose socket may reuse the descriptor).
    private var attempt: UInt8 = 0
    private var attemptStartedMs: UInt64 = 0
    private var attemptStartedNs: UInt64 = 0
    private var attemptDeadlineMs: UInt64 = .max
    private var nextCheckAtMs: UInt64 = .max
    /// Deadlines of this probe's timers still in the wheel. The wheel cannot cancel, so a
    /// timer is only added when none earlier is pending (that one re-arms when it fires);
    /// otherwise stale timers would accumulate with every check.
    private var pendingTimers: [UInt64] = []
    private var running = false
    private var readBuffer: UnsafeMutableRawBufferPointer?

    init(service: Int, backend: Int, serviceConfig: ServiceConfig, tlsContext: OpaquePointer?, preamble: [UInt8],
         loop: EventLoop, starts: CheckStartBudget? = nil,
         onTransition: @escaping (BackendProbe, Bool, String) -> Void) throws(SystemError) {
        let backendConfig = serviceConfig.backends[backend]
        self.service = service
        self.backend = backend
        serviceName = serviceConfig.name
        backendName = backendConfig.name
        config = serviceConfig.healthCheck
        let target = config.target(for: backendConfig)
        address = SocketAddress(bytes: target.address.bytes, port: target.port)
        distinctTarget = target == backendConfig.address ? nil : target.description
        self.preamble = preamble
        script = config.type == .tcp && !config.steps.isEmpty ? TCPCheckScript(config.steps) : nil
        serverName = HTTPExchange.hostHeader(serverName: config.serverName, endpoint: target)
        self.tlsContext = tlsContext
        self.loop = loop
        self.onTransition = onTransition
        self.starts = starts
        counter = RiseFallCounter(rise: config.rise, fall: config.fall)
        snapshot = CheckResultSnapshot(service: serviceName, backend: backendName, checkType: config.type)
        snapshot.target = distinctTarget
    }

    deinit {
        readBuffer?.deallocate()
    }

    var result: CheckResultSnapshot {
        var copy = snapshot
        copy.healthy = counter.isUp
        copy.consecutiveSuccesses = counter.consecutiveSuccesses
        copy.consecutiveFailures = counter.consecutiveFailures
        return copy
    }

    /// The first check lands at a random point of the first interval, so a pool of backends
    /// started together is not probed in one burst.
    func start(firstCheckWithinMs spread: UInt64) {
        guard !running, config.type != .none else { return }
        running = true
        id = loop.register(self)
        nextCheckAtMs = loop.nowMs + UInt64.random(in: 0...max(1, spread))
        arm(nextCheckAtMs)
    }

    func stop() {
        guard running else { return }
        running = false
        closeAttempt()
        // Unregistering drops every timer still queued for this id.
        pendingTimers.removeAll()
        loop.unregister(id)
        id = .unregistered
    }

    func forceDown() {
        counter.forceDown()
    }

    // MARK: EventHandler

    func handleEvent(_ events: EpollEvents, tag: UInt8) {
        guard running, tag == attempt else { return }
        advance(events)
    }

    func handleTimer(nowMs: UInt64) {
        guard running else { return }
        // The wheel fires in deadline order, so the timer delivered now is the earliest one.
        if let earliest = pendingTimers.indices.min(by: { pendingTimers[$0] < pendingTimers[$1] }) {
            pendingTimers.remove(at: earliest)
        }
        if case .idle = phase {
            if nowMs >= nextCheckAtMs {
                // Past this turn's share of starts, the budget starts it when its turn comes.
                if starts?.request(self) ?? true { beginAttempt(nowMs: nowMs) } else { nextCheckAtMs = .max }
            }
        } else if nowMs >= attemptDeadlineMs {
            finish(.failed("timeout after \(config.timeoutMs) ms"))
        } else if nowMs >= stepDeadlineMs, let script {
            finish(.failed("\(script.currentDescription): timeout after \(script.currentTimeoutMs) ms\(received(script))"))
        }
        if case .idle = phase { arm(nextCheckAtMs) } else { arm(min(attemptDeadlineMs, stepDeadlineMs)) }
    }

    /// The start budget's turn for a check that came due while the loop's share was spent.
    func startWaiting(nowMs: UInt64) {
        guard running, case .idle = phase else { return }
        beginAttempt(nowMs: nowMs)
        if case .idle = phase { arm(nextCheckAtMs) } else { arm(min(attemptDeadlineMs, stepDeadlineMs)) }
    }

    private func arm(_ deadline: UInt64) {
        guard running, deadline != .max, !pendingTimers.contains(where: { $0 <= deadline }) else { return }
        pendingTimers.append(deadline)
        loop.schedule(id, atMs: deadline)
    }

    // MARK: One attempt

    private func beginAttempt(nowMs: UInt64) {
        attempt &+= 1
        attemptStartedMs = nowMs
        attemptStartedNs = cl_monotonic_ns()
        attemptDeadlineMs = nowMs + UInt64(max(1, config.timeoutMs))
        script?.restart()
        stepDeadlineMs = .max
        if config.type == .http || config.type == .https {
            exchange = HTTPExchange(path: config.path, host: serverName, expectStatus: config.expectStatus,
                                    expectBody: config.expectBody)
        }
        do {
            fd = try SocketCalls.open(family: address.family)
            let started = try SocketCalls.connect(fd, to: address)
            try loop.watch(fd, handler: id, tag: attempt)
            phase = .connecting
            if case .connected = started { connected() }
        } catch {
            finish(.failed(error.call == "connect" ? Self.connectFailureReason(error.errno)
                                                   : "\(error.call) failed: \(error.reason.lowercased())"))
        }
    }

    /// Runs the attempt forward until it needs the next epoll edge or has a verdict. Edge
    /// triggering means each step must go until EAGAIN, or the event that would resume it
    /// never comes.
    private func advance(_ events: EpollEvents) {
        switch phase {
        case .idle:
            return
        case .connecting:
            let code = SocketCalls.pendingError(fd)
            if code != 0 { return finish(.failed(Self.connectFailureReason(code))) }
            guard events.contains(.writable) else {
                // A hangup with no pending error: the peer vanished before the connect settled.
                if !events.isDisjoint(with: [.error, .hangup]) { finish(.failed("connect failed: connection closed")) }
                return
            }
            connected()
        case .preamble, .script, .handshaking, .sending, .receiving:
            exchangeBytes()
        }
    }

    private func connected() {
        if !preamble.isEmpty {
            phase = .preamble(offset: 0)
        } else if !beginConversation() {
            return
        }
        exchangeBytes()
    }

    /// After the connect (and the PROXY header): the check's own protocol. False when the
    /// attempt already has its verdict.
    private func beginConversation() -> Bool {
        switch config.type {
        case .tcp, .none:
            guard script != nil else {
                finish(.ok(preamble.isEmpty ? "connect ok" : "connect ok, proxy header sent"))
                return false
            }
            phase = .script(offset: 0)
            startStep()
        case .http:
            phase = .sending(offset: 0)
        case .https:
            guard let tlsContext else {
                finish(.failed("tls: no context"))
                return false
            }
            do {
                tls = try TLSClient(context: tlsContext, fd: fd, serverName: serverName, verify: config.verify)
            } catch {
                finish(.failed(error.description))
                return false
            }
            phase = .handshaking
        }
        return true
    }

    private func startStep() {
        guard let script, script.current != nil else {
            stepDeadlineMs = .max
            return
        }
        stepDeadlineMs = loop.nowMs + UInt64(max(1, script.currentTimeoutMs))
        arm(stepDeadlineMs)
    }

    private func received(_ script: TCPCheckScript) -> String {
        guard case .expect? = script.current else { return "" }
        let excerpt = script.receivedExcerpt
        return excerpt.isEmpty ? " (nothing received)" : " (received \"\(excerpt)\")"
    }

    /// One pass of the send/expect steps; false when the attempt needs the next edge or has
    /// its verdict.
    private func advanceScript(offset: Int) -> Bool {
        guard var script else { return false }
        defer { self.script = script }
        switch script.current {
        case nil:
            finish(.ok("\(script.steps.count) steps ok"))
            return false
        case .send(let bytes):
            let step = bytes.withUnsafeBytes { writeStep(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            switch step {
            case .done(let written):
                if offset + written < bytes.count {
                    phase = .script(offset: offset + written)
                    return true
                }
                script.sent()
                self.script = script
                phase = .script(offset: 0)
                startStep()
                return true
            case .wantIO: return false
            case .closed:
                finish(.failed("\(script.currentDescription): connection closed"))
                return false
            case .failed(let reason):
                finish(.failed("\(script.currentDescription): \(reason)"))
                return false
            }
        case .expect:
            if script.matchBuffered() {
                self.script = script
                startStep()
                return true
            }
            let buffer = receiveBuffer()
            switch readStep(into: buffer) {
            case .done(let count):
                if script.consume(UnsafeRawBufferPointer(rebasing: buffer[..<count])) {
                    self.script = script
                    startStep()
                } else if script.isFull {
                    finish(.failed("\(script.currentDescription): no match in \(TCPCheckScript.receiveCapacity / 1024) KiB\(received(script))"))
                    return false
                }
                return true
            case .wantIO: return false
            case .closed:
                finish(.failed("\(script.currentDescription): connection closed\(received(script))"))
                return false
            case .failed(let reason):
                finish(.failed("\(script.currentDescription): \(reason)\(received(script))"))
                return false
            }
        }
    }

    private func exchangeBytes() {
        while true {
            switch phase {
            case .idle, .connecting:
                return
            case .preamble(let offset):
                let step = preamble.withUnsafeBytes { writeStep(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                switch step {
                case .done(let written):
                    if offset + written < preamble.count {
                        phase = .preamble(offset: offset + written)
                    } else if !beginConversation() {
                        return
                    }
                case .wantIO: return
                case .closed: return finish(.failed("proxy header: connection closed"))
                case .failed(let reason): return finish(.failed("proxy header: \(reason)"))
                }
            case .script(let offset):
                if !advanceScript(offset: offset) { return }
            case .handshaking:
                guard let tls else { return }
                switch tls.handshake() {
                case .done: phase = .sending(offset: 0)
                case .wantIO: return
                case .closed: return finish(.failed("tls: connection closed during handshake"))
                case .failed(let reason): return finish(.failed(reason))
                }
            case .sending(let offset):
                guard let request = exchange?.request else { return }
                let step = request.withUnsafeBytes { bytes in writeStep(UnsafeRawBufferPointer(rebasing: bytes[offset...])) }
                switch step {
                case .done(let written):
                    phase = offset + written >= request.count ? .receiving : .sending(offset: offset + written)
                case .wantIO: return
                case .closed: return finish(.failed("http: connection closed before the request was sent"))
                case .failed(let reason): return finish(.failed(reason))
                }
            case .receiving:
                let buffer = receiveBuffer()
                switch readStep(into: buffer) {
                case .done(let count):
                    if let verdict = exchange?.consume(UnsafeRawBufferPointer(rebasing: buffer[..<count])) {
                        return finish(verdict)
                    }
                case .wantIO: return
                case .closed:
                    guard var exchange else { return }
                    return finish(exchange.endOfStream())
                case .failed(let reason):
                    // A reset after a complete answer still counts as that answer.
                    guard var exchange else { return }
                    let verdict = exchange.endOfStream()
                    return finish(exchange.parser.headersComplete ? verdict : .failed(reason))
                }
            }
        }
    }

    /// How an operator reads a failed connect: "connect refused" rather than an errno name.
    static func connectFailureReason(_ code: Int32) -> String {
        switch code {
        case ECONNREFUSED: return "connect refused"
        case ETIMEDOUT: return "connect timeout"
        default: return "connect failed: \(SystemError(errno: code, call: "connect").reason.lowercased())"
        }
    }

    private func writeStep(_ bytes: UnsafeRawBufferPointer) -> TLSClient.Step {
        if let tls { return tls.write(bytes) }
        do {
            switch try SocketCalls.send(fd, bytes) {
            case .processed(let count): return .done(count)
            case .wouldBlock: return .wantIO
            }
        } catch {
            return .failed("write failed: \(error.reason.lowercased())")
        }
    }

    private func readStep(into buffer: UnsafeMutableRawBufferPointer) -> TLSClient.Step {
        if let tls { return tls.read(into: buffer) }
        do {
            switch try SocketCalls.receive(fd, into: buffer) {
            case .processed(0): return .closed
            case .processed(let count): return .done(count)
            case .wouldBlock: return .wantIO
            }
        } catch {
            return .failed("read failed: \(error.reason.lowercased())")
        }
    }

    private func receiveBuffer() -> UnsafeMutableRawBufferPointer {
        if let readBuffer { return readBuffer }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)
        readBuffer = buffer
        return buffer
    }

    private func finish(_ verdict: CheckVerdict) {
        let latencyMs = Double(cl_monotonic_ns() &- attemptStartedNs) / 1_000_000
        closeAttempt()
        snapshot.lastResult = verdict.success ? .ok : .failed
        snapshot.reason = verdict.reason
        snapshot.latencyMs = latencyMs
        snapshot.checksTotal += 1
        if !verdict.success { snapshot.failuresTotal += 1 }
        snapshot.latency.record(latencyMs)
        if let healthy = counter.record(success: verdict.success) {
            onTransition(self, healthy, "\(verdict.reason) \(counter.progress)")
        }
        nextCheckAtMs = max(attemptStartedMs + jitteredIntervalMs(), loop.nowMs)
        arm(nextCheckAtMs)
    }

    /// Up to 10% shorter than `intervalMs`, never longer: checks drift apart, and detection
    /// still stays within `intervalMs × fall + timeoutMs`.
    private func jitteredIntervalMs() -> UInt64 {
        let interval = UInt64(max(1, config.intervalMs))
        return interval - UInt64.random(in: 0...interval / 10)
    }

    private func closeAttempt() {
        tls = nil
        exchange = nil
        if fd >= 0 {
            // Closing drops the descriptor from epoll; no separate unwatch is needed.
            closeDescriptor(fd)
            fd = -1
        }
        phase = .idle
        attemptDeadlineMs = .max
        stepDeadlineMs = .max
    }
}
