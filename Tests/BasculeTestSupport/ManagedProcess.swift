import BasculePosix
import CBasculeTestSupport
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
/// grandchildren (the backends `bascule demo` starts) go with it. It is also started with
/// PR_SET_PDEATHSIG (see `bts_spawn_guarded`): if the test runner crashes or is SIGKILLed, so
/// that no deinit runs, the kernel kills the child too (or, with `deathSignal: SIGTERM`, asks it
/// to clean up and go). Foundation's Process cannot set that.
public final class ManagedProcess: Sendable {
    public enum Stream: Sendable { case stdout, stderr }

    public struct OutputLine: Sendable {
        public let stream: Stream
        public let text: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String

        public init(description: String) { self.description = description }
    }

    public let executable: String
    public let arguments: [String]
    public let pid: pid_t

    private let output = CapturedOutput()
    /// The raw wait status, once reaped. The Mutex also serialises waitpid calls.
    private let waitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` (an absolute path) with `arguments`, inheriting the environment
    /// with `environment` entries added or replaced, in `directory` (default: the runner's).
    /// `deathSignal` is what the kernel sends the child if the runner dies without releasing
    /// it: SIGKILL, unless the child must run its own cleanup (SIGTERM for a script whose trap
    /// tears down what it built outside its process group, such as network namespaces).
    public init(executable: String, arguments: [String], environment: [String: String] = [:],
                directory: String? = nil, deathSignal: Int32 = SIGKILL) throws {
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

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = ManagedProcess.environmentEntries(adding: environment).map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }
        var child: pid_t = 0
        let result = bts_spawn_guarded(executable, argv, envp, directory, outPipe[1], errPipe[1], deathSignal, &child)
        guard result == 0 else {
            [outPipe[0], errPipe[0]].forEach { close($0) }
            throw Failure(description: "starting \(executable) failed: \(SystemError(errno: result, call: "fork/execve"))")
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
    public var lines: [OutputLine] { output.lines.withLock { $0 } }

    public var lineCount: Int { output.lines.withLock { $0.count } }

    /// The last `limit` lines, stderr marked, for failure messages.
    public func recentOutput(limit: Int = 40) -> String {
        let tail = lines.suffix(limit)
        guard !tail.isEmpty else { return "(no output)" }
        return tail.map { ($0.stream == .stderr ? "[stderr] " : "") + $0.text }.joined(separator: "\n")
    }

    /// Waits for an output line (stdout or stderr) containing `text`, looking at lines from
    /// index `after` on (pass `lineCount` taken earlier to wait for a new occurrence).
    /// Fails early, with the output, if the process exits without printing it.
    @discardableResult
    public func waitForLine(containing text: String, after: Int = 0, timeout: Duration = .seconds(10)) throws -> String {
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
    public func signal(_ signo: Int32) {
        guard !hasExited else { return }
        kill(pid, signo)
    }

    /// Whether the process has exited (reaping it if so).
    public var hasExited: Bool { reap(blocking: false) != nil }

    /// Waits for the exit and returns its status: the exit code, or 128 + signal number when a
    /// signal killed it (the shell's convention). Nil if still running after `timeout`.
    /// Once it returns a status, `lines` holds all the output (unless a grandchild still
    /// holds the pipes open a second later).
    @discardableResult
    public func waitForExit(timeout: Duration = .seconds(10)) -> Int32? {
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
    public func terminate(grace: Duration = .seconds(5)) -> Int32 {
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
