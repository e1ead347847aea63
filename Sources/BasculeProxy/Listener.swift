import BasculeEventLoop
import CLinux
import Glibc

/// One worker's listening socket for one service.
final class Listener: EventHandler {
    let fd: Int32
    /// Not counted, as in `ProxiedConnection`: the worker owns its listeners and outlives them.
    private unowned(unsafe) let worker: Worker
    private let service: ServiceRuntime
    private(set) var id = HandlerID.unregistered

    init(fd: Int32, worker: Worker, service: ServiceRuntime) throws(SystemError) {
        self.fd = fd
        self.worker = worker
        self.service = service
        id = worker.loop.register(self)
        try worker.loop.watch(fd, events: [.readable, .edgeTriggered], handler: id)
    }

    func close() {
        worker.loop.unregister(id)
        closeDescriptor(fd)
    }

    func handleEvent(_ events: EpollEvents, tag: UInt8) {
        acceptPending()
    }

    /// Accepts until the queue is empty (edge-triggered: a connection left in the queue would
    /// get no new event).
    func acceptPending() {
        var peer = SocketAddress()
        while true {
            let client: Int32?
            do {
                client = try SocketCalls.accept(fd, peer: &peer)
            } catch {
                switch error.errno {
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: refuse one pending client so the queue does not fill
                    // while we wait, then stop; the worker retries when a connection closes.
                    if !worker.refuseOneAtDescriptorLimit(listener: fd) { return }
                    continue
                case ECONNABORTED, EPROTO, EPERM:
                    continue  // that client is gone; the next one may be fine
                default:
                    worker.log.error("accept failed", metadata: ["service": "\(service.table.config.name)", "error": "\(error)"])
                    return
                }
            }
            guard let client else { return }
            worker.startConnection(client: client, peer: peer, service: service)
        }
    }
}
