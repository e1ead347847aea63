import BasculeEventLoop
import Glibc
import Logging

extension Worker {
    /// Accepts from `listener` until its queue is empty (edge-triggered: a connection left in
    /// the queue would get no new event) and hands each client to `take`. Both kinds of
    /// listener come through here, so accept's errno policy is written once.
    @inline(__always)
    func acceptPending(on listener: Int32, describedBy describe: () -> Logger.Metadata,
                       _ take: (_ client: Int32, _ peer: SocketAddress) -> Void) {
        var peer = SocketAddress()
        while true {
            let client: Int32?
            do {
                client = try SocketCalls.accept(listener, peer: &peer)
            } catch {
                switch error.errno {
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: refuse one pending client so the queue does not fill
                    // while we wait, then stop; the worker retries when a connection closes.
                    if !refuseOneAtDescriptorLimit(listener: listener) { return }
                    continue
                case ECONNABORTED, EPROTO, EPERM:
                    continue  // that client is gone; the next one may be fine
                default:
                    var metadata = describe()
                    metadata["error"] = "\(error)"
                    log.error("accept failed", metadata: metadata)
                    return
                }
            }
            guard let client else { return }
            take(client, peer)
        }
    }
}
