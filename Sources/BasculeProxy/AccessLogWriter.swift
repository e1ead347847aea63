import BasculeEventLoop
import Glibc
import Synchronization

/// Writes the access log on a thread of its own, so no worker ever waits on the disk. Workers
/// hand over whole batches of lines through a mailbox (one lock per batch, never per line);
/// past `maxQueuedBytes` waiting to be written, batches are dropped and counted instead of
/// letting memory grow without bound.
public final class AccessLogWriter: Sendable {
    enum Message: Sendable {
        case lines([UInt8])
        case reopen
        case stop
    }

    public let path: String
    private let mailbox: Mailbox<Message>
    private let queuedBytes = Atomic<Int>(0)
    public let droppedLines = Atomic<Int>(0)
    public let writtenLines = Atomic<Int>(0)
    private let maxQueuedBytes = 8 << 20
    private let thread: Mutex<WorkerThread?> = Mutex(nil)

    /// `path` "-" writes to standard output.
    public init(path: String) throws(SystemError) {
        self.path = path
        mailbox = try Mailbox()
    }

    public func start() throws(SystemError) {
        let mailbox = self.mailbox
        let path = self.path
        let started = WorkerThread(name: "bascule-log") { [self] in
            var fd = Self.open(path)
            guard let loop = try? EventLoop() else { return }
            let receiver = try? MailboxReceiver(mailbox, on: loop) { message in
                switch message {
                case .lines(let bytes):
                    Self.writeAll(fd, bytes)
                    self.queuedBytes.subtract(bytes.count, ordering: .relaxed)
                case .reopen:
                    // After logrotate renamed the file: new lines go to a new file at the path.
                    if path != "-" {
                        closeDescriptor(fd)
                        fd = Self.open(path)
                    }
                case .stop:
                    loop.stop()
                }
            }
            try? loop.run()
            withExtendedLifetime(receiver) {}
            if path != "-" { closeDescriptor(fd) }
        }
        thread.withLock { $0 = started }
    }

    /// From a worker: a batch of complete lines.
    func submit(_ bytes: [UInt8], lines: Int) {
        if queuedBytes.add(bytes.count, ordering: .relaxed).newValue > maxQueuedBytes {
            queuedBytes.subtract(bytes.count, ordering: .relaxed)
            droppedLines.add(lines, ordering: .relaxed)
            return
        }
        writtenLines.add(lines, ordering: .relaxed)
        mailbox.post(.lines(bytes))
    }

    public func reopen() { mailbox.post(.reopen) }

    /// Writes what is queued, then ends the thread.
    public func stop() {
        mailbox.post(.stop)
        thread.withLock { $0?.join(); $0 = nil }
    }

    private static func open(_ path: String) -> Int32 {
        if path == "-" { return 1 }
        return Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        guard fd >= 0 else { return }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
