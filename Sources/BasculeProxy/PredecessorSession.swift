import BasculeEventLoop
import BasculePosix
import Glibc
import Logging

/// The new process's side of a handover once it serves: it tells the old process so, then
/// waits on the control loop for the old one's `drained` (or the connection's end, when the
/// old process exits without a word) to show the handover complete.
final class PredecessorSession: EventHandler {
    private var fd: Int32
    private let status: HandoverStatus
    private let loop: EventLoop
    private let log: Logger
    private let peerPid: Int32
    private var id = HandlerID.unregistered

    /// Sends `serving`; false when the old process is gone or has given up on this handover
    /// (then two processes must not both believe they serve alone: the caller stops).
    init?(_ inherited: InheritedListeners, adminTaken: Bool, status: HandoverStatus, loop: EventLoop, log: Logger) {
        fd = inherited.session
        self.status = status
        self.loop = loop
        self.log = log
        peerPid = inherited.peerPid
        guard UnixSocket.send(fd, HandoverMessage.serving(pid: getpid(), adminTaken: adminTaken).encoded) else {
            closeDescriptor(fd)
            return nil
        }
        // The socket was blocking for the exchange before start; from here it is the loop's.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        id = loop.register(self)
        do {
            try loop.watch(fd, events: [.readable, .readHangup, .edgeTriggered], handler: id)
        } catch {
            finish(drainMs: nil, timedOut: false)
        }
    }

    func handleEvent(_ events: EpollEvents, tag: UInt8) {
        while fd >= 0 {
            let message: [UInt8]
            switch try? UnixSocket.receive(fd) {
            case .wouldBlock?: return
            case .processed(let bytes)?: message = bytes
            case nil: message = []
            }
            if case .drained(let drainMs, let timedOut)? = HandoverMessage(message) {
                log.notice("handover complete: the old process has drained", metadata: [
                    "oldPid": "\(peerPid)", "drainMs": "\(drainMs)", "timedOut": "\(timedOut)",
                ])
                finish(drainMs: drainMs, timedOut: timedOut)
            } else if message.isEmpty {
                log.notice("handover complete: the old process has exited", metadata: ["oldPid": "\(peerPid)"])
                finish(drainMs: nil, timedOut: false)
            } else if case .refused(let reason)? = HandoverMessage(message) {
                log.error("handover: the old process gave up on this handover", metadata: ["reason": "\(reason)"])
            }
        }
    }

    private func finish(drainMs: Int?, timedOut: Bool) {
        status.peerDrained(drainMs: drainMs, timedOut: timedOut)
        loop.unwatch(fd)
        closeDescriptor(fd)
        fd = -1
        loop.unregister(id)
    }
}
