import BasculePosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `--agent-listen`: an agent port in HAProxy's agent-check style. Every connection is
/// answered with one line, what `POST /admin/agent?say=...` last set ("up" at start), and
/// closed. Lets tests and demos drain a backend, lower its weight or take it out from the
/// backend's side.
final class AgentResponder: Sendable {
    let boundAddress: SocketAddress
    private let listener: Int32
    private let state: BackendState

    init(listen: SocketAddress, state: BackendState) throws(SystemError) {
        self.state = state
        listener = try BlockingSocket.listen(on: listen, backlog: 128)
        do throws(SystemError) {
            boundAddress = listen.withPort(try BlockingSocket.boundPort(listener))
        } catch {
            closeDescriptor(listener)
            throw error
        }
    }

    func start() throws(SystemError) {
        try WorkerThread.detach(name: "backend-agent") { [self] in acceptLoop() }
    }

    /// Answers on the accept thread itself: one short write per connection, nothing to wait for.
    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EBADF || errno == EINVAL || errno == ENOTSOCK { fatalError("agent listener \(listener) is broken") }
                usleep(errno == EINTR || errno == ECONNABORTED ? 0 : 10_000)
                continue
            }
            let line = Array((state.agentSays.withLock { $0 } + "\n").utf8)
            try? BlockingSocket.setTimeouts(fd, seconds: 2)
            try? BlockingSocket.writeAll(fd, line)
            BlockingSocket.shutdownWrite(fd)
            close(fd)
        }
    }

    /// What the route accepts: printable text, no line break, short enough for one line.
    static func validated(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= 200, text.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7f }) else { return nil }
        return text
    }

    /// Query values arrive percent-encoded ("drain%20%23maintenance", "75%25"); '+' is a space.
    static func percentDecoded(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
