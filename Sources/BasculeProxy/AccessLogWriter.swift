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
    /// Failed writes (each drops its batch), plus one if the writer thread itself stopped.
    public let writeErrors = Atomic<Int>(0)
    private let dead = Atomic<Bool>(false)
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
        let started = WorkerThread(name: "bascule-log") { [self] in
            run()
        }
        thread.withLock { $0 = started }
    }

    /// The writer thread's body. A writer that cannot run says so once, loudly, and from then
    /// on `submit` counts every line as dropped instead of queueing it for no one.
    private func run() {
        var fd = initialDescriptor
        defer { if path != "-" { closeDescriptor(fd) } }
        var failing = false
        let loop: EventLoop
        let receiver: MailboxReceiver<Message>
        do {
            loop = try EventLoop()
            receiver = try MailboxReceiver(mailbox, on: loop) { [self] message in
                switch message {
                case .lines(let bytes, let count):
                    write(bytes, lines: count, to: fd, failing: &failing)
                case .reopen:
                    reopen(&fd, failing: &failing)
                case .stop:
                    loop.stop()
                }
            }
        } catch {
            writerDied(error)
            return
        }
        do {
            try loop.run()
        } catch {
            writerDied(error)
        }
        withExtendedLifetime(receiver) {}
    }

    private func write(_ bytes: [UInt8], lines count: Int, to fd: Int32, failing: inout Bool) {
        if let error = Self.writeAll(fd, bytes) {
            droppedLines.add(count, ordering: .relaxed)
            writeErrors.add(1, ordering: .relaxed)
            // Once per failing streak: a full disk would otherwise log once per batch.
            if !failing {
                log?.error("access log write failed; dropping lines until writes succeed",
                           metadata: ["path": "\(path)", "error": "\(String(cString: strerror(error)))"])
            }
            failing = true
        } else {
            writtenLines.add(count, ordering: .relaxed)
            failing = false
        }
        queuedBytes.subtract(bytes.count, ordering: .relaxed)
    }

    /// After logrotate renamed the file: new lines go to a new file at the path. Opened
    /// before the old one is closed, so a failed reopen keeps logging.
    private func reopen(_ fd: inout Int32, failing: inout Bool) {
        guard path != "-" else { return }
        do {
            let next = try Self.open(path)
            closeDescriptor(fd)
            fd = next
            failing = false
        } catch {
            log?.error("access log reopen failed; still writing to the old file",
                       metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    private func writerDied(_ error: any Error) {
        dead.store(true, ordering: .relaxed)
        writeErrors.add(1, ordering: .relaxed)
        log?.critical("access log writer stopped; every line from now on is dropped",
                      metadata: ["path": "\(path)", "error": "\(error)"])
    }

    /// From a worker: a batch of complete lines.
    func submit(_ bytes: [UInt8], lines: Int) {
        if dead.load(ordering: .relaxed) {
            droppedLines.add(lines, ordering: .relaxed)
            return
        }
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
