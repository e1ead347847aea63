import BasculeEventLoop
import BasculePosix
import Glibc

/// A worker's listening sockets on an address shared by services that route by the TLS
/// ClientHello (one, or more after a takeover, as for `Listener`): every accepted client first
/// goes through a `ServerNameIntake`, which picks the service; from there on it is that
/// service's connection like any other.
final class RoutedListener: EventHandler {
    let fds: [Int32]
    let address: RoutedAddress
    private unowned(unsafe) let worker: Worker
    private(set) var id = HandlerID.unregistered

    init(_ routed: WorkerRoutedAddress, worker: Worker) throws(SystemError) {
        fds = [routed.listener] + routed.moreListeners
        address = routed.address
        self.worker = worker
        id = worker.loop.register(self)
        for (position, fd) in fds.enumerated() {
            try worker.loop.watch(fd, events: [.readable, .edgeTriggered], handler: id, tag: UInt8(position))
        }
    }

    /// Unwatched before closing, for the reason given in `Listener.close`.
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
        worker.acceptPending(on: fd, describedBy: { ["listen": "\(address.listen)"] }) { client, peer in
            ServerNameIntake(worker: worker, client: client, peer: peer, address: address).start()
        }
    }
}
