import BasculeEventLoop
import CLinux
import Glibc

/// One worker's listening sockets for one service: normally one; more after a takeover by a
/// process with fewer workers than the sockets it received (`ListenerBinding.sockets`). The
/// epoll tag says which socket is ready.
final class Listener: EventHandler {
    let fds: [Int32]
    /// Not counted, as in `ProxiedConnection`: the worker owns its listeners and outlives them.
    private unowned(unsafe) let worker: Worker
    private let service: ServiceRuntime
    private(set) var id = HandlerID.unregistered

    init(fds: [Int32], worker: Worker, service: ServiceRuntime) throws(SystemError) {
        self.fds = fds
        self.worker = worker
        self.service = service
        id = worker.loop.register(self)
        for (position, fd) in fds.enumerated() {
            try worker.loop.watch(fd, events: [.readable, .edgeTriggered], handler: id, tag: UInt8(position))
        }
    }

    /// Unwatched before closing: after a handover the socket stays open in the successor, and
    /// epoll keeps a registration until the last descriptor of the socket is closed, so this
    /// worker would otherwise go on waking for connections it no longer accepts.
    func close() {
        worker.loop.unregister(id)
        for fd in fds {
            worker.loop.unwatch(fd)
            closeDescriptor(fd)
        }
    }

    func handleEvent(_ events: EpollEvents, tag: UInt8) {
        accept(on: fds[Int(tag)])
    }

    func acceptPending() {
        for fd in fds { accept(on: fd) }
    }

    @inline(__always)
    private func accept(on fd: Int32) {
        worker.acceptPending(on: fd, describedBy: { ["service": "\(service.table.config.name)"] }) { client, peer in
            worker.startConnection(client: client, peer: peer, service: service)
        }
    }
}
