import BasculePosix
import CLinux
import Glibc
import Synchronization

/// Messages from other threads to one loop: a locked queue plus an eventfd the loop watches.
/// The lock is taken only by control traffic (snapshots, reload, shutdown), never by the
/// relay, and the eventfd is written only when the queue goes from empty to non-empty.
public final class Mailbox<Message: Sendable>: Sendable {
    public let fd: Int32
    private let queue = Mutex<[Message]>([])

    public init() throws(SystemError) {
        fd = Int32(try syscallValue("eventfd") { Int(cl_eventfd(0)) })
    }

    deinit { closeDescriptor(fd) }

    public func post(_ message: Message) {
        let wasEmpty = queue.withLock { queue in
            let empty = queue.isEmpty
            queue.append(message)
            return empty
        }
        if wasEmpty {
            var one: UInt64 = 1
            _ = withUnsafeBytes(of: &one) { Glibc.write(fd, $0.baseAddress, 8) }
        }
    }

    /// Takes every queued message; called by the owning loop when `fd` is readable.
    public func drain() -> [Message] {
        var counter: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &counter) { Glibc.read(fd, $0.baseAddress, 8) }
        return queue.withLock { queue in
            let taken = queue
            queue.removeAll()
            return taken
        }
    }
}

/// Delivers a mailbox's messages to a closure on the loop that owns it.
public final class MailboxReceiver<Message: Sendable>: EventHandler {
    private let mailbox: Mailbox<Message>
    private let deliver: (Message) -> Void

    public init(_ mailbox: Mailbox<Message>, on loop: EventLoop, deliver: @escaping (Message) -> Void) throws(SystemError) {
        self.mailbox = mailbox
        self.deliver = deliver
        let id = loop.register(self)
        try loop.watch(mailbox.fd, events: [.readable, .edgeTriggered], handler: id)
    }

    public func handleEvent(_ events: EpollEvents, tag: UInt8) {
        for message in mailbox.drain() { deliver(message) }
    }
}
