import BasculeEventLoop
import BasculePosix
import Glibc

/// A worker's listening socket on an address shared by services that route by the TLS
/// ClientHello: every accepted client first goes through a `ServerNameIntake`, which picks the
/// service; from there on it is that service's connection like any other.
final class RoutedListener: EventHandler {
    let fd: Int32
    let address: RoutedAddress
    private unowned(unsafe) let worker: Worker
    private(set) var id = HandlerID.unregistered

    init(_ routed: WorkerRoutedAddress, worker: Worker) throws(SystemError) {
        fd = routed.listener
        address = routed.address
        self.worker = worker
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
        worker.acceptPending(on: fd, describedBy: { ["listen": "\(address.listen)"] }) { client, peer in
            ServerNameIntake(worker: worker, client: client, peer: peer, address: address).start()
        }
    }
}
