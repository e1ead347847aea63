import BasculeEventLoop
import CLinux
import BasculePosix
import Glibc

/// The first moments of a connection on an address that routes by TLS server name: wait,
/// within `clientHello.timeoutMs` and `maxBytes`, for the whole ClientHello (after the
/// upstream's PROXY header when the address accepts one), pick the route, and hand the client
/// to that service as if it had been accepted there.
///
/// Nothing is read from the socket here: the bytes are peeked (MSG_PEEK), so the backend later
/// receives exactly what the client sent, PROXY header handling and all, through the service's
/// usual path. Each arrival of data is a new edge, so a ClientHello sent one byte at a time is
/// re-read from the start at each byte; bounded by `maxBytes`, and the reader is stateless.
/// The hand-off costs one epoll_ctl(DEL) here and the connection's own epoll_ctl(ADD).
final class ServerNameIntake: EventHandler {
    private unowned(unsafe) let worker: Worker
    private let client: Int32
    private let peer: SocketAddress
    private let address: RoutedAddress
    private var id = HandlerID.unregistered
    private var done = false
    private let acceptedNs = cl_monotonic_ns()

    init(worker: Worker, client: Int32, peer: SocketAddress, address: RoutedAddress) {
        self.worker = worker
        self.client = client
        self.peer = peer
        self.address = address
    }

    func start() {
        id = worker.loop.register(self)
        do {
            try worker.loop.watch(client, events: [.readable, .readHangup, .edgeTriggered], handler: id)
        } catch {
            closeDescriptor(client)
            worker.loop.unregister(id)
            return
        }
        worker.loop.schedule(id, atMs: worker.loop.nowMs + address.timeoutMs)
        worker.intakeStarted()
        // The ClientHello often arrives with the connection: no need to wait for an edge.
        readClientHello()
    }

    func handleEvent(_ events: EpollEvents, tag: UInt8) {
        readClientHello()
    }

    func handleTimer(nowMs: UInt64) {
        guard !done else { return }
        refuse(.timeout)
    }

    private func readClientHello() {
        guard !done else { return }
        let buffers = worker.clientHelloBuffers(maxBytes: address.maxBytes)
        let window = buffers.peek
        let peeked = Glibc.recv(client, window.baseAddress, window.count, Int32(MSG_PEEK))
        if peeked < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            return refuse(.closed)
        }
        let bytes = UnsafeRawBufferPointer(rebasing: window[0..<peeked])
        var start = 0
        if address.acceptsProxyHeader {
            // The service reads and checks the header itself later; here it is only skipped.
            switch ProxyProtocolParser.parse(bytes, limit: ServerNameIntake.proxyHeaderRoom) {
            case .needMoreData:
                return peeked == 0 ? refuse(.closed) : ()
            case .invalid:
                return route(address.routes.pickForNonTLS, rejection: .notTLS)
            case .complete(_, let consumed):
                start = consumed
            }
        }
        let hello = UnsafeRawBufferPointer(rebasing: bytes[start...])
        switch ClientHelloReader.read(hello, scratch: buffers.scratch, maximumBytes: address.maxBytes) {
        case .needMoreBytes:
            if peeked == 0 || peeked == window.count { refuse(peeked == 0 ? .closed : .tooLarge) }
            // A client that closed after part of a ClientHello: the hangup edge brings us back.
        case .complete(let parsed):
            route(address.routes.pick(parsed), rejection: nil)
        case .notTLS:
            route(address.routes.pickForNonTLS, rejection: .notTLS)
        case .malformed:
            refuse(.malformed)
        case .tooLarge:
            refuse(.tooLarge)
        }
    }

    /// Room for the longest PROXY header the intake will skip (v1 is at most 107 bytes; v2 with
    /// TLVs larger than this is refused, as the service itself would with its 4 KiB window).
    static let proxyHeaderRoom = 4096

    private func route(_ pick: ServerNameRoutes.Pick, rejection: RouteCounters.Rejection?) {
        address.counters.count(pick)
        let serviceID: Int
        let label: String
        switch pick {
        case .named(let service, let pattern):
            serviceID = service
            label = pattern
        case .byDefault(let service):
            serviceID = service
            label = "default"
        case .refused:
            return refuse(rejection, counted: true)
        }
        if let rejection { address.counters.count(rejection) }
        guard let service = worker.service(id: serviceID) else { return refuse(nil, counted: true) }
        handOff()
        worker.startConnection(client: client, peer: peer, service: service, route: label)
        // After the hand-off, so a draining worker never looks idle in between.
        worker.intakeFinished()
    }

    /// Closed with a reset: the client learns at once it will get nothing here.
    private func refuse(_ rejection: RouteCounters.Rejection?, counted: Bool = false) {
        if let rejection { address.counters.count(rejection) }
        if !counted { address.counters.count(.refused) }
        handOff()
        SocketCalls.resetOnClose(client)
        closeDescriptor(client)
        worker.routeRefused(address, peer: peer, reason: rejection?.label ?? "no route", badClientHello: rejection != nil,
                            waitedNs: cl_monotonic_ns() &- acceptedNs)
        worker.intakeFinished()
    }

    private func handOff() {
        done = true
        worker.loop.unwatch(client)
        worker.loop.unregister(id)
    }
}
