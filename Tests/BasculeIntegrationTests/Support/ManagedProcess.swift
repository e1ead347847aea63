import BasculeBackendService
import BasculePosix
import CLinux
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process owned by a test: its stdout and stderr are captured line by line (kept for
/// failure messages), and it is always killed and reaped, at the latest when this object is
/// released, so a failing test never leaks processes or ports.
///
/// The child runs in its own process group; the final SIGKILL goes to the whole group, so
/// grandchildren (the backends `bascule demo` starts) go with it.
final class ManagedProcess: Sendable {
    enum Stream: Sendable { case stdout, stderr }

    struct OutputLine: Sendable {
        let stream: Stream
        let text: String
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let executable: String
    let arguments: [String]
    let pid: pid_t

    private let output = CapturedOutput()
    /// The raw wait status, once reaped. The Mutex also serialises waitpid calls.
    private let waitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` (an absolute path) with `arguments`, inheriting the environment
    /// with `environment` entries added or replaced.
    init(executable: String, arguments: [String], environment: [String: String] = [:]) throws {
        self.executable = executable
        self.arguments = arguments

        // O_CLOEXEC at creation (pipe2) so pipes of processes other tests spawn concurrently
        // never leak into this child, which would keep their streams from ever reaching EOF.
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard cl_pipe2_nonblock(&outPipe) == 0 else { throw Failure(description: "pipe2 failed: errno \(errno)") }
        guard cl_pipe2_nonblock(&errPipe) == 0 else {
            outPipe.forEach { close($0) }
            throw Failure(description: "pipe2 failed: errno \(errno)")
        }
        // The readers and the child both want blocking pipes.
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFL, 0) }
        defer {
            close(outPipe[1])
            close(errPipe[1])
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        // Default dispositions: the test runner may ignore SIGPIPE or block signals, and a child
        // must not inherit that.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signo in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD] { sigaddset(&defaults, signo) }
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = ManagedProcess.environmentEntries(adding: environment).map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            [outPipe[0], errPipe[0]].forEach { close($0) }
            throw Failure(description: "posix_spawn \(executable) failed: \(SystemError(errno: result, call: "posix_spawn"))")
        }
        pid = child
        startReader(fd: outPipe[0], stream: .stdout)
        startReader(fd: errPipe[0], stream: .stderr)
    }

    deinit {
        if waitStatus.withLock({ $0 }) == nil {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            reap(blocking: true)
        }
        killStragglers()
    }

    // MARK: Output

    /// Every line captured so far, in arrival order (stdout and stderr interleaved).
    var lines: [OutputLine] { output.lines.withLock { $0 } }

    var lineCount: Int { output.lines.withLock { $0.count } }

    /// The last `limit` lines, stderr marked, for failure messages.
    func recentOutput(limit: Int = 40) -> String {
        let tail = lines.suffix(limit)
        guard !tail.isEmpty else { return "(no output)" }
        return tail.map { ($0.stream == .stderr ? "[stderr] " : "") + $0.text }.joined(separator: "\n")
    }

    /// Waits for an output line (stdout or stderr) containing `text`, looking at lines from
    /// index `after` on (pass `lineCount` taken earlier to wait for a new occurrence).
    /// Fails early, with the output, if the process exits without printing it.
    @discardableResult
    func waitForLine(containing text: String, after: Int = 0, timeout: Duration = .seconds(10)) throws -> String {
        let deadline = ContinuousClock.now + timeout
        var exitedAt: ContinuousClock.Instant?
        while true {
            // Read the stream state before the lines: a reader appends its last lines before
            // it reports its stream closed, so "closed" here means every line is visible below.
            let streamsClosed = output.openStreams.load(ordering: .acquiring) == 0
            if let found = lines.dropFirst(after).first(where: { $0.text.contains(text) }) {
                return found.text
            }
            if exitedAt == nil && hasExited { exitedAt = .now }
            // After the exit, allow a moment for output still in the pipe (or held by grandchildren).
            if streamsClosed || exitedAt.map({ ContinuousClock.now - $0 > .milliseconds(500) }) == true {
                throw Failure(description: "\(name) ended (\(exitDescription)) without printing \"\(text)\"; output:\n\(recentOutput())")
            }
            if ContinuousClock.now >= deadline {
                throw Failure(description: "\(name) did not print \"\(text)\" within \(timeout); output:\n\(recentOutput())")
            }
            sleep(for: .milliseconds(10))
        }
    }

    // MARK: Lifecycle

    /// Sends `signo` to the process (not its group).
    func signal(_ signo: Int32) {
        guard !hasExited else { return }
        kill(pid, signo)
    }

    /// Whether the process has exited (reaping it if so).
    var hasExited: Bool { reap(blocking: false) != nil }

    /// Waits for the exit and returns its status: the exit code, or 128 + signal number when a
    /// signal killed it (the shell's convention). Nil if still running after `timeout`.
    /// Once it returns a status, `lines` holds all the output (unless a grandchild still
    /// holds the pipes open a second later).
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(10)) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = reap(blocking: false) {
                // The exit can be seen before the readers have drained the last output.
                let drainDeadline = ContinuousClock.now + .seconds(1)
                while output.openStreams.load(ordering: .acquiring) > 0 && ContinuousClock.now < drainDeadline {
                    sleep(for: .milliseconds(2))
                }
                return Self.exitCode(status)
            }
            if ContinuousClock.now >= deadline { return nil }
            sleep(for: .milliseconds(5))
        }
    }

    /// SIGTERM, then SIGKILL to the whole group if still alive after `grace`; always reaps.
    /// Returns the exit status as `waitForExit` does.
    @discardableResult
    func terminate(grace: Duration = .seconds(5)) -> Int32 {
        signal(SIGTERM)
        if let code = waitForExit(timeout: grace) {
            killStragglers()
            return code
        }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        let status = reap(blocking: true) ?? 0
        killStragglers()
        return Self.exitCode(status)
    }

    // MARK: Internals

    private var name: String {
        let base = executable.split(separator: "/").last.map(String.init) ?? executable
        return "\(base) (pid \(pid))"
    }

    private var exitDescription: String {
        guard let status = reap(blocking: false) else { return "still running" }
        let code = Self.exitCode(status)
        return code > 128 ? "killed by signal \(code - 128)" : "exit status \(code)"
    }

    /// Reaps the child once; returns the raw wait status when it has exited.
    @discardableResult
    private func reap(blocking: Bool) -> Int32? {
        waitStatus.withLock { stored -> Int32? in
            if let stored { return stored }
            var status: Int32 = 0
            while true {
                let result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
                if result == pid {
                    stored = status
                    return status
                }
                if result < 0 && errno == EINTR { continue }
                return nil
            }
        }
    }

    /// After the leader is gone, kill anything it left behind in its group.
    private func killStragglers() {
        kill(-pid, SIGKILL)
    }

    private static func environmentEntries(adding overrides: [String: String]) -> [String] {
        var entries: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(decoding: UnsafeRawBufferPointer(start: entry, count: strlen(entry)), as: UTF8.self)
            let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
            if overrides[name] == nil { entries.append(text) }
            cursor += 1
        }
        return entries + overrides.map { "\($0.key)=\($0.value)" }.sorted()
    }

    private static func exitCode(_ status: Int32) -> Int32 {
        let signalNumber = status & 0x7f
        return signalNumber == 0 ? (status >> 8) & 0xff : 128 + signalNumber
    }

    private func startReader(fd: Int32, stream: Stream) {
        let output = output
        do {
            try WorkerThread.detach(name: "test-drain", stackSize: 256 * 1024) { output.drain(fd: fd, stream: stream) }
        } catch {
            close(fd)
            output.openStreams.subtract(1, ordering: .releasing)
        }
    }
}

/// Lines read from a child's pipes. Separate from ManagedProcess so the reader threads do not
/// keep the process object alive: its `deinit` (which kills the child) must be able to run
/// while the child still holds its pipes open.
private final class CapturedOutput: Sendable {
    let lines = Mutex<[ManagedProcess.OutputLine]>([])
    /// Streams still open; 0 once the child and its descendants closed both.
    let openStreams = Atomic<Int>(2)

    func drain(fd: Int32, stream: ManagedProcess.Stream) {
        defer {
            close(fd)
            openStreams.subtract(1, ordering: .releasing)
        }
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            pending += chunk[0..<count]
            var lineStart = 0
            var newLines: [ManagedProcess.OutputLine] = []
            while let newline = pending[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
                newLines.append(.init(stream: stream, text: String(decoding: pending[lineStart..<newline], as: UTF8.self)))
                lineStart = newline + 1
            }
            pending.removeFirst(lineStart)
            if !newLines.isEmpty { lines.withLock { $0 += newLines } }
        }
        if !pending.isEmpty {
            lines.withLock { $0.append(.init(stream: stream, text: String(decoding: pending, as: UTF8.self))) }
        }
    }
}
