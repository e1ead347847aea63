import BasculeBalancing
import BasculeConfig
import BasculeEventLoop
import CLinux
import Glibc

/// One client connection and its backend connection, relayed in both directions. This file
/// holds its state, its start and the dispatch of readiness events; the rest is one file per
/// concern: `+ProxyHeader` (an upstream balancer's header), `+Connect` (choosing and
/// connecting to a backend, retries), `+Relay` (the relay engine), `+Timers`, `+Close`
/// (closing, accounting, the access log).
///
/// Both descriptors are registered once, edge-triggered, for reading and writing, so
/// backpressure needs no epoll_ctl: readiness is remembered in flags, cleared on EAGAIN and set
/// again by the next event. Small messages are copied through the worker's scratch buffer
/// (recv/send: a short read proves the socket is drained, saving the call that would return
/// EAGAIN); a direction that fills the buffer switches to splice() through a pooled pipe.
final class ProxiedConnection: EventHandler {
    static let clientTag: UInt8 = 0
    static let backendTag: UInt8 = 1
    /// How long a direction may sit on an empty pipe before handing it back to the worker's
    /// pool: long enough that a bulk stream pausing between reads keeps splicing, short enough
    /// that thousands of connections gone quiet after a download do not hold two descriptors
    /// each (they ran a worker out of descriptors at ~3,400 idle connections).
    static let pipeIdleMs: UInt64 = 1000

    /// Not counted: the worker owns its connections (through `live` and its loop) and outlives
    /// them, and an unowned reference would cost a check-and-retain on every event.
    unowned(unsafe) let worker: Worker
    let service: ServiceRuntime
    private(set) var id = HandlerID.unregistered
    var liveIndex = -1
    /// The server-name route that brought the connection here, for the access log.
    var route: String?

    // Stored properties are laid out in declaration order: the two descriptors share eight
    // bytes, and the flags sit in the padding after the 33-byte optional address, so an idle
    // connection costs less memory.
    let client: Int32
    var backend: Int32 = -1
    var backendIndex = -1
    var clientHash: UInt64
    /// The client as the backend should see it: the peer, or the source an upstream
    /// balancer's PROXY header named.
    var clientAddress: SocketAddress
    /// The address the client connected to, when a PROXY header gave it.
    var destinationAddress: SocketAddress?
    /// Waiting for the upstream balancer's PROXY header before choosing a backend.
    var awaitingProxyHeader = false
    var connecting = true
    var closed = false
    /// Which side finished sending first, for the access log's "client/backend closed".
    var backendClosedFirst = false
    /// Released through a mutating call (a long access); unchecked for the reason `up` is.
    @exclusivity(unchecked) var admission: Admission
    /// Monotonic times for the connect-time and duration histograms and the access log.
    let startNs = cl_monotonic_ns()
    var connectedNs: UInt64 = 0
    /// When the first connect began: `startNs`, or later when a PROXY header was awaited.
    var connectStartNs: UInt64 = 0
    /// The access log's `id`: this worker's accept count when it was accepted.
    let sequence: UInt64
    /// Kept only when the access log will need it (a table rebuilt meanwhile renumbers backends).
    var backendName: String?
    var backendAddress: SocketAddress?
    /// The backend's place, held from its socket to close: by the backend's counters, so a
    /// table rebuilt meanwhile (new indices) cannot make it count against another backend.
    /// Unchecked for the reason `up` is: replacing it runs the old lease's deinit, which
    /// touches only the backend's counters, so a checked access cannot be optimised away and
    /// cost ~310 instructions per connection (swift_beginAccess, callgrind.sh).
    @exclusivity(unchecked) var lease: BackendLease?
    /// Appended to on a failed connect (a long access); unchecked for the reason `up` is.
    @exclusivity(unchecked) var tried: [Int] = []

    var proxyHeaderDeadline: UInt64 = 0
    var connectDeadline: UInt64 = 0
    var lastActivity: UInt64
    var timerArmedAt = UInt64.max

    /// Passed inout to the relay, across its syscalls, on every event. Unchecked: only the
    /// worker's thread touches a connection, and nothing the relay calls comes back to the
    /// connection, so the runtime's exclusivity check (a thread-local lookup and a set
    /// insertion, ~200 instructions per access, half the cost of a small request) could never
    /// fire. A checked long access would also cost every other access to these a check.
    @exclusivity(unchecked) var up = RelayDirection()
    @exclusivity(unchecked) var down = RelayDirection()

    init(worker: Worker, service: ServiceRuntime, client: Int32, clientHash: UInt64,
         clientAddress: SocketAddress, admission: consuming Admission) {
        self.worker = worker
        self.service = service
        self.client = client
        self.clientHash = clientHash
        self.clientAddress = clientAddress
        self.admission = admission
        sequence = worker.acceptedSequence
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
        connectStartNs = startNs
        connectToNextBackend()
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

}
