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

    func acceptPending() {
        worker.acceptPending(on: fd, describedBy: { ["service": "\(service.table.config.name)"] }) { client, peer in
            worker.startConnection(client: client, peer: peer, service: service)
        }
    }
}
