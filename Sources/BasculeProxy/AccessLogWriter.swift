import BasculeEventLoop
import Glibc
import Logging
import Synchronization

/// Writes the access log on a thread of its own, so no worker ever waits on the disk. Workers
/// hand over whole batches of lines through a mailbox (one lock per batch, never per line);
/// past `maxQueuedBytes` waiting to be written, batches are dropped and counted instead of
/// letting memory grow without bound. Lines that cannot be written (disk full, file gone bad)
/// are counted as dropped too, never lost silently.
public final class AccessLogWriter: Sendable {
    enum Message: Sendable {
        case lines([UInt8], count: Int)
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
    /// Opened by `init`, then owned by the writer thread.
    private let initialDescriptor: Int32
    private let log: Logger?

    /// `path` "-" writes to standard output. The file is opened here, so a path that cannot
    /// be written (a directory, no permission) fails the start instead of losing every line.
    public init(path: String, log: Logger? = nil) throws {
        self.path = path
        self.log = log
        mailbox = try Mailbox()
        initialDescriptor = try Self.open(path)
    }

    public func start() throws(SystemError) {
        let mailbox = self.mailbox
        let path = self.path
        let initialDescriptor = self.initialDescriptor
        let started = WorkerThread(name: "bascule-log") { [self] in
            var fd = initialDescriptor
            guard let loop = try? EventLoop() else { return }
            var failing = false
            let receiver = try? MailboxReceiver(mailbox, on: loop) { message in
                switch message {
                case .lines(let bytes, let count):
                    if let error = Self.writeAll(fd, bytes) {
                        self.droppedLines.add(count, ordering: .relaxed)
                        // Once per failing streak: a full disk would otherwise log once per batch.
                        if !failing {
                            self.log?.error("access log write failed; dropping lines until writes succeed",
                                            metadata: ["path": "\(path)", "error": "\(String(cString: strerror(error)))"])
                        }
                        failing = true
                    } else {
                        self.writtenLines.add(count, ordering: .relaxed)
                        failing = false
                    }
                    self.queuedBytes.subtract(bytes.count, ordering: .relaxed)
                case .reopen:
                    // After logrotate renamed the file: new lines go to a new file at the path.
                    // Opened before the old one is closed, so a failed reopen keeps logging.
                    guard path != "-" else { return }
                    do {
                        let next = try Self.open(path)
                        closeDescriptor(fd)
                        fd = next
                        failing = false
                    } catch {
                        self.log?.error("access log reopen failed; still writing to the old file",
                                        metadata: ["error": "\(error)"])
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
        mailbox.post(.lines(bytes, count: lines))
    }

    public func reopen() { mailbox.post(.reopen) }

    /// Writes what is queued, then ends the thread.
    public func stop() {
        mailbox.post(.stop)
        thread.withLock { $0?.join(); $0 = nil }
    }

    static func open(_ path: String) throws -> Int32 {
        if path == "-" { return STDOUT_FILENO }
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StartupError(description: "access log \(path): cannot open: \(String(cString: strerror(errno)))")
        }
        return fd
    }

    /// Nil when every byte was written, else the errno that stopped it.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
    }
}
