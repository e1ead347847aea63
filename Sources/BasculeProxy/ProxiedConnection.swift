import BasculeBalancing
import BasculeConfig
import BasculeEventLoop
import CLinux
import Glibc

/// One client connection and its backend connection, relayed in both directions.
///
/// Both descriptors are registered once, edge-triggered, for reading and writing, so
/// backpressure needs no epoll_ctl: readiness is remembered in flags, cleared on EAGAIN and set
/// again by the next event. Small messages are copied through the worker's scratch buffer
/// (recv/send: a short read proves the socket is drained, saving the call that would return
/// EAGAIN); a direction that fills the buffer switches to splice() through a pooled pipe.
final class ProxiedConnection: EventHandler {
    private static let clientTag: UInt8 = 0
    private static let backendTag: UInt8 = 1
    /// How long a direction may sit on an empty pipe before handing it back to the worker's
    /// pool: long enough that a bulk stream pausing between reads keeps splicing, short enough
    /// that thousands of connections gone quiet after a download do not hold two descriptors
    /// each (they ran a worker out of descriptors at ~3,400 idle connections).
    static let pipeIdleMs: UInt64 = 1000

    /// Not counted: the worker owns its connections (through `live` and its loop) and outlives
    /// them, and an unowned reference would cost a check-and-retain on every event.
    private unowned(unsafe) let worker: Worker
    let service: ServiceRuntime
    private(set) var id = HandlerID.unregistered
    var liveIndex = -1

    // Stored properties are laid out in declaration order: the two descriptors share eight
    // bytes, and the flags sit in the padding after the 33-byte optional address, so an idle
    // connection costs less memory.
    private let client: Int32
    private var backend: Int32 = -1
    private(set) var backendIndex = -1
    private var clientHash: UInt64
    /// The client as the backend should see it: the peer, or the source an upstream
    /// balancer's PROXY header named.
    private var clientAddress: SocketAddress
    /// The address the client connected to, when a PROXY header gave it.
    private var destinationAddress: SocketAddress?
    /// Waiting for the upstream balancer's PROXY header before choosing a backend.
    private var awaitingProxyHeader = false
    private var connecting = true
    private var closed = false
    /// Which side finished sending first, for the access log's "client/backend closed".
    private var backendClosedFirst = false
    /// Released through a mutating call (a long access); unchecked for the reason `up` is.
    @exclusivity(unchecked) private var admission: Admission
    /// Monotonic times for the connect-time and duration histograms and the access log.
    private let startNs = cl_monotonic_ns()
    private var connectedNs: UInt64 = 0
    /// Kept only when the access log will need it (a table rebuilt meanwhile renumbers backends).
    private var backendName: String?
    /// Held from connect to close, so a table rebuilt meanwhile (new indices) cannot make
    /// this connection count against another backend.
    private var counters: BackendCounters?
    /// Appended to on a failed connect (a long access); unchecked for the reason `up` is.
    @exclusivity(unchecked) private var tried: [Int] = []

    private var proxyHeaderDeadline: UInt64 = 0
    private var connectDeadline: UInt64 = 0
    private var lastActivity: UInt64
    private var timerArmedAt = UInt64.max

    /// Passed inout to the relay, across its syscalls, on every event. Unchecked: only the
    /// worker's thread touches a connection, and nothing the relay calls comes back to the
    /// connection, so the runtime's exclusivity check (a thread-local lookup and a set
    /// insertion, ~200 instructions per access, half the cost of a small request) could never
    /// fire. A checked long access would also cost every other access to these a check.
    @exclusivity(unchecked) private var up = RelayDirection()
    @exclusivity(unchecked) private var down = RelayDirection()

    init(worker: Worker, service: ServiceRuntime, client: Int32, clientHash: UInt64,
         clientAddress: SocketAddress, admission: Admission) {
        self.worker = worker
        self.service = service
        self.client = client
        self.clientHash = clientHash
        self.clientAddress = clientAddress
        self.admission = admission
        lastActivity = worker.loop.nowMs
    }

    /// Registers the client and starts connecting to a backend. Returns false when the
    /// connection was closed at once (nothing to connect to, out of descriptors).
    func start() {
        id = worker.loop.register(self)
        do {
            try worker.loop.watch(client, handler: id, tag: Self.clientTag)
        } catch {
            finish(.clientError)
            return
        }
        if service.acceptsProxyHeader {
            // A client that sends half a header (or nothing) is closed when this expires.
            awaitingProxyHeader = true
            proxyHeaderDeadline = worker.loop.nowMs + min(service.connectTimeoutMs, 5000)
            arm(at: proxyHeaderDeadline)
            return
        }
        connectToNextBackend()
    }

    // MARK: PROXY protocol

    /// Reads the upstream balancer's header without consuming what follows it: peek, parse,
    /// then read exactly the header's bytes, so the client's own data stays in the socket.
    private func readProxyHeader() {
        let scratch = worker.scratch
        let window = min(scratch.count, 4096)
        let peeked = Glibc.recv(client, scratch.baseAddress, window, Int32(MSG_PEEK))
        if peeked < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            finish(.clientError)
            return
        }
        if peeked == 0 {
            rejectProxyHeader()
            return
        }
        switch ProxyProtocolParser.parse(UnsafeRawBufferPointer(rebasing: scratch[0..<peeked]), limit: window) {
        case .needMoreData:
            if peeked == window { rejectProxyHeader() }
        case .invalid:
            rejectProxyHeader()
        case .complete(let header, let consumed):
            guard Glibc.recv(client, scratch.baseAddress, consumed, 0) == consumed else {
                finish(.clientError)
                return
            }
            awaitingProxyHeader = false
            if let source = header.source { clientAddress = source }
            destinationAddress = header.destination
            let table = service.table
            if let accessList = table.accessList, !accessList.permits(clientAddress) {
                service.traffic.denied.bump()
                worker.noteRefusal(service, "denied by allow/deny", peer: clientAddress)
                finish(.deniedByAccessList)
                return
            }
            // Process and service places were taken at accept; the client's is taken now.
            guard admission.admitClient(clientAddress, table: table) else {
                service.traffic.refused.bump()
                worker.noteRefusal(service, "refused by a connection limit", peer: clientAddress)
                finish(.refusedByLimit)
                return
            }
            if service.wantsClientHash {
                clientHash = Worker.clientHash(clientAddress, network: table.config.affinity == .network)
            }
            connectToNextBackend()
        }
    }

    private func rejectProxyHeader() {
        service.traffic.rejectedProxyHeaders.bump()
        finish(.badProxyHeader)
    }

    /// Queues the PROXY header for the backend ahead of any client byte.
    private func queueProxyHeader(_ version: ProxyProtocolVersion) {
        let destination = destinationAddress ?? SocketCalls.localAddress(client)
        let buffer = worker.buffers.take()
        let room = UnsafeMutableRawBufferPointer(start: buffer, count: worker.buffers.bufferSize)
        let length = version == .v1
            ? ProxyProtocolEncoder.v1(source: clientAddress, destination: destination, into: room)
            : ProxyProtocolEncoder.v2(source: clientAddress, destination: destination, into: room)
        up.pending = buffer
        up.pendingStart = 0
        up.pendingEnd = length
    }

    // MARK: Connecting

    private func connectToNextBackend() {
        guard let index = service.pick(clientHash: clientHash, excluding: tried) else {
            if tried.isEmpty && service.everyBackendFull {
                service.traffic.refused.bump()
                finish(.backendsFull)
            } else {
                finish(tried.isEmpty ? .noBackend : .connectFailed)
            }
            return
        }
        let table = service.table
        let counters = table.counters[index]
        self.counters = counters
        var address = table.backends[index].address
        let fd = cl_socket_nonblock(address.family, Int32(SOCK_STREAM.rawValue))
        if fd < 0 {
            // Out of descriptors is our limit, not the backend's fault.
            finish(.descriptorLimit)
            return
        }
        backend = fd
        backendIndex = index
        if worker.accessLog != nil { backendName = table.backends[index].name }
        counters.active.add(1, ordering: .relaxed)
        counters.total.add(1, ordering: .relaxed)
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))

        let result = withUnsafePointer(to: &address.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { cl_connect(fd, $0, address.length) }
        }
        if result < 0 && errno != EINPROGRESS && errno != EINTR {
            connectFailed(errno: errno)
            return
        }
        do throws(SystemError) {
            try worker.loop.watch(fd, handler: id, tag: Self.backendTag)
        } catch {
            connectFailed(errno: error.errno)
            return
        }
        connectDeadline = worker.loop.nowMs + service.connectTimeoutMs
        arm(at: connectDeadline)
    }

    private func connectFailed(errno code: Int32) {
        let index = backendIndex
        closeDescriptor(backend)
        backend = -1
        backendIndex = -1
        guard let counters else { return }
        self.counters = nil
        counters.active.subtract(1, ordering: .relaxed)
        counters.recordConnectFailure(ConnectErrorReason(errno: code))
        counters.consecutiveFailures.add(1, ordering: .relaxed)
        worker.connectFailed(service: service, backend: index, counters: counters, errno: code)
        tried.append(index)
        if tried.count <= service.retries {
            service.traffic.retries.bump()
            connectToNextBackend()
        } else {
            finish(.connectFailed)
        }
    }

    private func connected() {
        connecting = false
        connectedNs = cl_monotonic_ns()
        service.traffic.histograms.connect.record(nanoseconds: connectedNs &- startNs)
        if let counters {
            up.counter = Unmanaged.passUnretained(counters.bytesIn[worker.index])
            down.counter = Unmanaged.passUnretained(counters.bytesOut[worker.index])
            // Written only when set, so the common path does not dirty the shared cache line.
            if counters.consecutiveFailures.load(ordering: .relaxed) != 0 {
                counters.consecutiveFailures.store(0, ordering: .relaxed)
            }
        }
        up.destinationWritable = true
        if let version = service.proxyProtocol { queueProxyHeader(version) }
        lastActivity = worker.loop.nowMs
        arm(at: lastActivity + service.idleTimeoutMs)
    }

    // MARK: Events

    func handleEvent(_ events: EpollEvents, tag: UInt8) {
        if closed { return }
        let readable = !events.isDisjoint(with: [.readable, .readHangup, .hangup, .error])
        let hangup = !events.isDisjoint(with: [.readHangup, .hangup])
        if tag == Self.clientTag {
            if readable { up.sourceReadable = true }
            if hangup { up.sourceHangupSeen = true }
            if events.contains(.writable) { down.destinationWritable = true }
            if awaitingProxyHeader {
                if readable { readProxyHeader() }
                return
            }
            if connecting {
                // A client that resets before we reach a backend frees the backend attempt.
                if events.contains(.error) { finish(.clientError) }
                return
            }
        } else {
            if connecting {
                if !events.isDisjoint(with: [.error, .hangup]) {
                    connectFailed(errno: SocketCalls.pendingError(backend))
                    return
                }
                guard events.contains(.writable) else { return }
                connected()
            }
            if readable { down.sourceReadable = true }
            if hangup { down.sourceHangupSeen = true }
            if events.contains(.writable) { up.destinationWritable = true }
        }
        pump()
    }

    /// Moves whatever can move in both directions, then closes when both are finished.
    private func pump() {
        lastActivity = worker.loop.nowMs
        switch relay(&up, from: client, to: backend) {
        case .ok: break
        case .sourceFailed: finish(.clientError); return
        case .destinationFailed: finish(.backendError); return
        }
        switch relay(&down, from: backend, to: client) {
        case .ok: break
        case .sourceFailed: finish(.backendError); return
        case .destinationFailed: finish(.clientError); return
        }
        let upDone = up.sourceClosed && up.isDrained
        let downDone = down.sourceClosed && down.isDrained
        if downDone && !up.sourceClosed { backendClosedFirst = true }
        if upDone && downDone {
            // close() sends the last FIN itself; a shutdown first would be a wasted call.
            finish(.completed)
            return
        }
        // Propagate a half-close: the peer learns there is no more data and can still answer
        // (a client that shuts its write side keeps receiving the response).
        if upDone && !up.destinationShutDown {
            _ = shutdown(backend, Int32(SHUT_WR))
            up.destinationShutDown = true
        }
        if downDone && !down.destinationShutDown {
            _ = shutdown(client, Int32(SHUT_WR))
            down.destinationShutDown = true
        }
    }

    /// One direction; a fatal socket error (reset, broken pipe) names the side it came from.
    // Inlined into pump() as it was before it returned RelayOutcome (out of line it cost
    // ~25 instructions per keep-alive request: callgrind.sh).
    @inline(__always)
    private func relay(_ direction: inout RelayDirection, from source: Int32, to destination: Int32) -> RelayOutcome {
        guard direction.canMove else { return .ok }
        if direction.pipe != nil {
            return splice(&direction, from: source, to: destination)
        }
        return copy(&direction, from: source, to: destination)
    }

    private func copy(_ direction: inout RelayDirection, from source: Int32, to destination: Int32) -> RelayOutcome {
        let scratch = worker.scratch
        while true {
            if direction.pendingStart < direction.pendingEnd {
                guard direction.destinationWritable, let pending = direction.pending else { return .ok }
                let count = direction.pendingEnd - direction.pendingStart
                let sent = cl_send(destination, pending + direction.pendingStart, count, Int32(MSG_NOSIGNAL))
                if sent < 0 {
                    if errno == EAGAIN || errno == EINTR { direction.destinationWritable = false; return .ok }
                    return .destinationFailed
                }
                direction.pendingStart += sent
                if direction.pendingStart < direction.pendingEnd { direction.destinationWritable = false; return .ok }
                direction.pendingStart = 0
                direction.pendingEnd = 0
            }
            if direction.sourceClosed || !direction.sourceReadable { return .ok }

            let received = cl_recv(source, scratch.baseAddress, scratch.count, 0)
            if received < 0 {
                if errno == EAGAIN || errno == EINTR { direction.sourceReadable = false; return .ok }
                return .sourceFailed
            }
            if received == 0 {
                direction.sourceClosed = true
                direction.sourceReadable = false
                return .ok
            }
            direction.count(received)
            // A short read after the peer's FIN was reported is the stream's last data, and
            // pump() shuts the destination down right after this send. MSG_MORE holds the data
            // until that FIN so both leave in one segment, which also spares the receiver one
            // ACK: up to two loopback segments fewer per closing connection, no extra call.
            var flags = Int32(MSG_NOSIGNAL)
            if _slowPath(direction.sourceHangupSeen) && received < scratch.count { flags |= Int32(MSG_MORE) }
            var sent = 0
            if direction.destinationWritable {
                sent = cl_send(destination, scratch.baseAddress, received, flags)
                if sent < 0 {
                    if errno != EAGAIN && errno != EINTR { return .destinationFailed }
                    sent = 0
                }
            }
            if sent < received {
                direction.destinationWritable = false
                let buffer = direction.pending ?? worker.buffers.take()
                direction.pending = buffer
                (buffer).copyMemory(from: scratch.baseAddress! + sent, byteCount: received - sent)
                direction.pendingStart = 0
                direction.pendingEnd = received - sent
            }
            if received < scratch.count {
                // A TCP read shorter than asked means the receive queue is now empty. If the
                // peer's FIN was already reported (EPOLLRDHUP), nothing can follow it, so this
                // is the end of the stream: no need for the call that would return 0.
                direction.sourceReadable = false
                if direction.sourceHangupSeen { direction.sourceClosed = true }
                return .ok
            } else if direction.pendingStart == direction.pendingEnd, let pipe = worker.pipes.take() {
                // A full buffer means bulk data: from now on splice, with no copy to user space.
                direction.pipe = pipe
                if let buffer = direction.pending { worker.buffers.give(buffer); direction.pending = nil }
                return splice(&direction, from: source, to: destination)
            }
        }
    }

    private func splice(_ direction: inout RelayDirection, from source: Int32, to destination: Int32) -> RelayOutcome {
        guard let pipe = direction.pipe else { return .ok }
        let capacity = worker.pipes.pipeSize
        while true {
            if direction.pipeBytes > 0 {
                guard direction.destinationWritable else { return .ok }
                let moved = cl_splice(pipe.readEnd, destination, direction.pipeBytes, 0)
                if moved < 0 {
                    if errno == EAGAIN || errno == EINTR { direction.destinationWritable = false; return .ok }
                    return .destinationFailed
                }
                direction.pipeBytes -= moved
                if direction.pipeBytes > 0 { direction.destinationWritable = false; return .ok }
            }
            if direction.sourceClosed || !direction.sourceReadable { return .ok }
            // Unlike recv, a short splice does not prove the socket is drained (the pipe can
            // run out of slots first), so this reads until EAGAIN.
            let moved = cl_splice(source, pipe.writeEnd, capacity, 0)
            if moved < 0 {
                if errno == EAGAIN || errno == EINTR {
                    direction.sourceReadable = false
                    // Drained: if nothing follows within pipeIdleMs, the timer gives the pipe
                    // back. Only the splice path pays; arm() touches the wheel only when no
                    // earlier deadline is set.
                    if direction.pipeBytes == 0 && worker.pipes.isCrowded {
                        giveBackEmptyPipe(&direction)
                    } else {
                        arm(at: lastActivity + Self.pipeIdleMs)
                    }
                    return .ok
                }
                return .sourceFailed
            }
            if moved == 0 {
                direction.sourceClosed = true
                direction.sourceReadable = false
                return .ok
            }
            direction.pipeBytes = moved
            direction.count(moved)
        }
    }

    // MARK: Timers

    private func arm(at deadline: UInt64) {
        if deadline < timerArmedAt {
            timerArmedAt = deadline
            worker.loop.schedule(id, atMs: deadline)
        }
    }

    func handleTimer(nowMs: UInt64) {
        if closed { return }
        timerArmedAt = .max
        if awaitingProxyHeader {
            if nowMs >= proxyHeaderDeadline { rejectProxyHeader() } else { arm(at: proxyHeaderDeadline) }
            return
        }
        if connecting {
            if nowMs >= connectDeadline {
                connectFailed(errno: ETIMEDOUT)
            } else {
                arm(at: connectDeadline)
            }
            return
        }
        let idleDeadline = lastActivity + service.idleTimeoutMs
        if nowMs >= idleDeadline {
            finish(.idleTimeout)
            return
        }
        if up.pipe != nil || down.pipe != nil {
            if nowMs &- lastActivity >= Self.pipeIdleMs {
                giveBackEmptyPipe(&up)
                giveBackEmptyPipe(&down)
            }
            // A pipe still holding bytes waits for its destination; look again later.
            if up.pipe != nil || down.pipe != nil { arm(at: max(lastActivity, nowMs) + Self.pipeIdleMs) }
        }
        arm(at: idleDeadline)
    }

    /// The direction goes back to copying; a later full read takes a pipe again.
    private func giveBackEmptyPipe(_ direction: inout RelayDirection) {
        guard let pipe = direction.pipe, direction.pipeBytes == 0 else { return }
        worker.pipes.give(pipe, empty: true)
        direction.pipe = nil
    }

    // MARK: Closing

    func finish(_ reason: CloseReason) {
        if closed { return }
        closed = true
        switch reason {
        case .noBackend, .connectFailed, .descriptorLimit: service.traffic.failed.bump()
        default: break
        }
        let durationNs = cl_monotonic_ns() &- startNs
        service.traffic.histograms.duration.record(nanoseconds: durationNs)
        if worker.accessLog != nil {
            worker.recordAccess(service: service.table.config.name, client: clientAddress,
                                backend: connectedNs > 0 ? backendName : nil,
                                connectMs: connectedNs > 0 ? Double(connectedNs &- startNs) / 1e6 : nil,
                                durationMs: Double(durationNs) / 1e6, bytesIn: up.bytes, bytesOut: down.bytes,
                                end: endDescription(reason))
        }
        // When one side failed, the other is reset rather than closed: a FIN would tell it the
        // stream ended, and a download or upload cut in the middle would look complete. The
        // same for both sides of a connection still open when a shutdown's drain time is up.
        switch reason {
        case .backendError:
            SocketCalls.resetOnClose(client)
        case .clientError where backend >= 0:
            SocketCalls.resetOnClose(backend)
        case .shutdown:
            SocketCalls.resetOnClose(client)
            if backend >= 0 { SocketCalls.resetOnClose(backend) }
        default:
            break
        }
        closeDescriptor(client)
        if backend >= 0 { closeDescriptor(backend) }
        admission.release()
        if let counters {
            counters.active.subtract(1, ordering: .relaxed)
            self.counters = nil
        }
        release(up)
        release(down)
        up = RelayDirection()
        down = RelayDirection()
        worker.loop.unregister(id)
        worker.connectionFinished(self, reason: reason)
    }

    private func endDescription(_ reason: CloseReason) -> String {
        switch reason {
        case .completed: return backendClosedFirst ? "backend closed" : "client closed"
        case .clientError: return "client error"
        case .backendError: return "backend error"
        case .idleTimeout: return "idle timeout"
        case .noBackend: return "no backend"
        case .connectFailed: return "connect failed"
        case .descriptorLimit: return "descriptor limit"
        case .backendsFull, .refusedByLimit: return "refused by limit"
        case .deniedByAccessList: return "denied"
        case .badProxyHeader: return "bad proxy header"
        case .shutdown: return "shutdown"
        }
    }

    private func release(_ direction: RelayDirection) {
        if let pipe = direction.pipe {
            worker.pipes.give(pipe, empty: direction.pipeBytes == 0)
        }
        if let buffer = direction.pending {
            worker.buffers.give(buffer)
        }
    }
}
