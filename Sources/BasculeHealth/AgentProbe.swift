import BasculeConfig
import BasculeEventLoop
import CLinux
import Glibc

/// Polls one backend's agent on its own interval: connect, read one line, close. Runs on the
/// control loop beside the backend's health check and never blocks; the timer wheel starts
/// polls and bounds them by the agent's `timeoutMs`.
final class AgentProbe: EventHandler {
    let service: Int
    let backend: Int
    let backendName: String
    private let config: AgentCheckConfig
    private let address: SocketAddress
    private unowned let loop: EventLoop
    private var id = HandlerID.unregistered
    /// Told when an answer changed what the agent says.
    private let onChange: (AgentProbe) -> Void

    private(set) var snapshot: AgentSnapshot
    private var fd: Int32 = -1
    private var connecting = false
    private var line: [UInt8] = []
    /// Per poll, the epoll tag: a late event of a finished poll is told apart from the next.
    private var attempt: UInt8 = 0
    private var deadlineMs: UInt64 = .max
    private var nextPollAtMs: UInt64 = .max
    /// As in BackendProbe: the wheel cannot cancel, so a timer is added only when none earlier is pending.
    private var pendingTimers: [UInt64] = []
    private var running = false

    /// A line longer than this is not an agent answer.
    static let lineCapacity = 512

    init(service: Int, backend: Int, backendConfig: BackendConfig, agent: AgentCheckConfig, loop: EventLoop,
         onChange: @escaping (AgentProbe) -> Void) throws(SystemError) {
        self.service = service
        self.backend = backend
        backendName = backendConfig.name
        config = agent
        let target = agent.target(for: backendConfig.address)
        address = SocketAddress(bytes: target.address.bytes, port: target.port)
        snapshot = AgentSnapshot(target: target.description)
        self.loop = loop
        self.onChange = onChange
    }

    func start() {
        guard !running else { return }
        running = true
        id = loop.register(self)
        nextPollAtMs = loop.nowMs + UInt64.random(in: 0...UInt64(max(1, config.intervalMs)))
        arm(nextPollAtMs)
    }

    func stop() {
        guard running else { return }
        running = false
        closePoll()
        pendingTimers.removeAll()
        loop.unregister(id)
        id = .unregistered
    }

    func handleEvent(_ events: EpollEvents, tag: UInt8) {
        guard running, tag == attempt, fd >= 0 else { return }
        if connecting {
            let code = SocketCalls.pendingError(fd)
            if code != 0 { return failed(BackendProbe.connectFailureReason(code)) }
            guard events.contains(.writable) || events.contains(.readable) else {
                if !events.isDisjoint(with: [.error, .hangup]) { failed("connect failed: connection closed") }
                return
            }
            connecting = false
        }
        readLine()
    }

    func handleTimer(nowMs: UInt64) {
        guard running else { return }
        if let earliest = pendingTimers.indices.min(by: { pendingTimers[$0] < pendingTimers[$1] }) {
            pendingTimers.remove(at: earliest)
        }
        if fd < 0 {
            if nowMs >= nextPollAtMs { beginPoll(nowMs: nowMs) }
        } else if nowMs >= deadlineMs {
            failed("no answer within \(config.timeoutMs) ms")
        }
        arm(fd < 0 ? nextPollAtMs : deadlineMs)
    }

    private func arm(_ deadline: UInt64) {
        guard running, deadline != .max, !pendingTimers.contains(where: { $0 <= deadline }) else { return }
        pendingTimers.append(deadline)
        loop.schedule(id, atMs: deadline)
    }

    private func beginPoll(nowMs: UInt64) {
        attempt &+= 1
        line.removeAll(keepingCapacity: true)
        deadlineMs = nowMs + UInt64(max(1, config.timeoutMs))
        nextPollAtMs = nowMs + UInt64(max(1, config.intervalMs))
        do {
            fd = try SocketCalls.open(family: address.family)
            let started = try SocketCalls.connect(fd, to: address)
            try loop.watch(fd, handler: id, tag: attempt)
            connecting = started == .inProgress
        } catch {
            failed(error.call == "connect" ? BackendProbe.connectFailureReason(error.errno)
                                           : "\(error.call) failed: \(error.reason.lowercased())")
        }
    }

    /// Reads until a newline, EOF or EAGAIN (edge-triggered: the next edge resumes it).
    private func readLine() {
        var chunk = [UInt8](repeating: 0, count: 256)
        while fd >= 0 {
            let result = chunk.withUnsafeMutableBytes { buffer in Result { () throws(SystemError) in try SocketCalls.receive(fd, into: buffer) } }
            switch result {
            case .success(.processed(0)):
                return answered()
            case .success(.processed(let count)):
                line.append(contentsOf: chunk[..<count])
                if line.contains(UInt8(ascii: "\n")) { return answered() }
                if line.count > Self.lineCapacity { return failed("answer longer than \(Self.lineCapacity) bytes") }
            case .success(.wouldBlock):
                return
            case .failure(let error):
                // A reset right after the line still leaves the line.
                if line.isEmpty { return failed("read failed: \(error.reason.lowercased())") }
                return answered()
            }
        }
    }

    private func answered() {
        let text = String(decoding: line.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self).trimmingWhitespace()
        closePoll()
        snapshot.pollsTotal += 1
        guard let answer = AgentAnswer.parse(text) else {
            snapshot.failuresTotal += 1
            snapshot.reachable = true
            snapshot.lastError = text.isEmpty ? "empty answer" : "unrecognised answer \"\(text.prefix(80))\""
            return
        }
        let before = snapshot
        snapshot.apply(answer)
        snapshot.said = text
        snapshot.reachable = true
        snapshot.lastError = ""
        if before.operational != snapshot.operational || before.administrative != snapshot.administrative
            || before.weightPercent != snapshot.weightPercent || before.said != snapshot.said {
            onChange(self)
        }
    }

    private func failed(_ reason: String) {
        closePoll()
        snapshot.pollsTotal += 1
        snapshot.failuresTotal += 1
        snapshot.reachable = false
        snapshot.lastError = reason
    }

    private func closePoll() {
        if fd >= 0 {
            closeDescriptor(fd)
            fd = -1
        }
        connecting = false
        deadlineMs = .max
    }
}
