import BasculeEventLoop
import BasculeProxy
import Glibc

/// One admin client: read a request, answer it, close. Everything it does is bounded: the
/// buffer by the request limits, the whole exchange by one deadline, so a client that sends
/// nothing, sends slowly or never reads its answer only ever holds one descriptor until then.
final class AdminConnection: EventHandler {
    private enum Phase {
        case reading
        case writing
        /// The answer is sent and our side shut down; reading what the client still sends
        /// until it closes. Closing with unread data would make the kernel send a reset,
        /// which can destroy the answer before the client has read it.
        case lingering
        case closed
    }

    let fd: Int32
    let peer: SocketAddress
    /// Holds one of the places kept for /healthz and /readyz.
    let reserved: Bool
    let acceptedAtMs: UInt64
    /// Until the request head has arrived; then `deadlineMs` bounds the rest.
    private var headDeadlineMs: UInt64
    private var headReceived = false
    private unowned let server: AdminServer
    private var id = HandlerID.unregistered
    private var phase = Phase.reading
    private var input: [UInt8] = []
    private var output: [UInt8] = []
    private var written = 0
    private var deadlineMs: UInt64
    private var discarded = 0
    private static let discardBudget = 256 * 1024

    init(fd: Int32, peer: SocketAddress, server: AdminServer, reserved: Bool, headDeadlineMs: UInt64, deadlineMs: UInt64) {
        self.fd = fd
        self.peer = peer
        self.server = server
        self.reserved = reserved
        acceptedAtMs = server.loop.nowMs
        self.headDeadlineMs = min(headDeadlineMs, deadlineMs)
        self.deadlineMs = deadlineMs
    }

    /// Accepted and nothing received yet: the first to go when the admin port is full.
    var isSilent: Bool { phase == .reading && input.isEmpty }

    private var nextDeadlineMs: UInt64 { phase == .reading && !headReceived ? headDeadlineMs : deadlineMs }

    func start(on loop: EventLoop) throws(SystemError) {
        id = loop.register(self)
        do {
            try loop.watch(fd, handler: id)
        } catch {
            loop.unregister(id)
            throw error
        }
        loop.schedule(id, atMs: nextDeadlineMs)
    }

    func handleEvent(_ events: EpollEvents, tag: UInt8) {
        switch phase {
        case .reading:
            readRequest()
            if phase == .reading && events.contains(.error) { close() }
        case .writing:
            flush()
        case .lingering:
            discardInput()
        case .closed:
            break
        }
    }

    func handleTimer(nowMs: UInt64) {
        guard phase != .closed else { return }
        guard nowMs >= nextDeadlineMs else {
            server.loop.schedule(id, atMs: nextDeadlineMs)
            return
        }
        if phase == .reading {
            server.noteTimeout(peer: peer)
            // One short grace period to deliver the 408; a client that reads nothing loses it.
            deadlineMs = nowMs + 1000
            server.loop.schedule(id, atMs: deadlineMs)
            respond(.text(.requestTimeout, "request not received in time"), includeBody: true)
        } else {
            close()
        }
    }

    private func readRequest() {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while phase == .reading {
            let result: IOResult<Int>
            do {
                result = try syscall("read") { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            } catch {
                close()
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .processed(0):
                // The client half-closed. A complete request was handled above; anything
                // shorter will never be finished.
                if input.isEmpty { close() } else { respond(.text(.badRequest, "incomplete request"), includeBody: true) }
                return
            case .processed(let count):
                input.append(contentsOf: chunk[0..<count])
                switch HTTPRequestParser.parse(input, limits: server.limits) {
                case .needMore:
                    if !headReceived && Self.containsHeadEnd(input) {
                        headReceived = true
                        server.loop.schedule(id, atMs: deadlineMs)
                    }
                    continue
                case .failure(let status, let reason):
                    server.noteRejected(peer: peer, status: status, reason: reason)
                    respond(.text(status, reason), includeBody: true)
                case .request(let request):
                    let response = server.respond(to: request, peer: peer, reserved: reserved)
                    respond(response, includeBody: request.method != "HEAD")
                }
            }
        }
    }

    private static func containsHeadEnd(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 4 else { return false }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10
            && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return true
        }
        return false
    }

    private func respond(_ response: HTTPResponse, includeBody: Bool) {
        server.count(response.status)
        output = response.serialized(includeBody: includeBody)
        input = []
        written = 0
        phase = .writing
        flush()
    }

    private func flush() {
        while written < output.count {
            let result: IOResult<Int>
            do {
                result = try syscall("send") {
                    output.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + written, $0.count - written, Int32(MSG_NOSIGNAL)) }
                }
            } catch {
                close()
                return
            }
            switch result {
            case .wouldBlock: return
            case .processed(let count): written += count
            }
        }
        output = []
        _ = shutdown(fd, Int32(SHUT_WR))
        phase = .lingering
        let lingerUntil = server.loop.nowMs + 2000
        if lingerUntil < deadlineMs {
            deadlineMs = lingerUntil
            server.loop.schedule(id, atMs: deadlineMs)
        }
        discardInput()
    }

    private func discardInput() {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while phase == .lingering {
            let result = try? syscall("read") { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            switch result {
            case .wouldBlock:
                return
            case .processed(let count) where count > 0:
                // A client that keeps streaming after its answer would keep the loop here;
                // past a budget it gets the reset it is asking for.
                discarded += count
                if discarded > Self.discardBudget { close() }
            default:
                close()
            }
        }
    }

    func close() {
        guard phase != .closed else { return }
        phase = .closed
        server.loop.unregister(id)
        closeDescriptor(fd)
        server.connectionClosed(self)
    }
}
