import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("ManagedProcess", .serialized, .timeLimit(.minutes(1)))
struct ManagedProcessTests {
    @Test func killsAndReapsOnRelease() throws {
        var pid: pid_t = 0
        do {
            let process = try ManagedProcess(executable: "/bin/sleep", arguments: ["60"])
            pid = process.pid
            #expect(!process.hasExited)
        }
        // Reaped, so the pid no longer exists (not even as a zombie).
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
    }

    @Test func killsTheWholeProcessGroupOnRelease() throws {
        var grandchild: pid_t = 0
        do {
            let process = try ManagedProcess(executable: "/bin/sh", arguments: ["-c", "sleep 60 & echo child $!; wait"])
            let line = try process.waitForLine(containing: "child ")
            grandchild = try #require(pid_t(line.dropFirst("child ".count)))
        }
        // The grandchild is not ours to reap, so dead may still mean zombie until its new parent reaps it.
        try waitUntil("grandchild \(grandchild) to be dead", timeout: .seconds(5)) {
            kill(grandchild, 0) == -1 || processState(grandchild) == "Z"
        }
    }

    @Test func capturesStdoutAndStderrAndPassesTheEnvironment() throws {
        let process = try ManagedProcess(executable: "/bin/sh", arguments: ["-c", "echo out $GREETING; echo err >&2"],
                                         environment: ["GREETING": "hello"])
        #expect(process.waitForExit() == 0)
        try waitUntil("both lines captured") { process.lineCount == 2 }
        #expect(process.lines.contains { $0.stream == .stdout && $0.text == "out hello" })
        #expect(process.lines.contains { $0.stream == .stderr && $0.text == "err" })
    }

    @Test func waitForLineFailsEarlyWithTheOutputWhenTheProcessExits() throws {
        let process = try ManagedProcess(executable: "/bin/sh", arguments: ["-c", "echo something else; exit 3"])
        let started = ContinuousClock.now
        do {
            try process.waitForLine(containing: "never printed", timeout: .seconds(30))
            Issue.record("waitForLine returned")
        } catch {
            #expect("\(error)".contains("something else"))
            #expect("\(error)".contains("exit status 3"))
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func terminateEscalatesToSIGKILL() throws {
        let process = try ManagedProcess(executable: "/bin/sh", arguments: ["-c", "trap '' TERM; echo ready; while :; do sleep 1; done"])
        try process.waitForLine(containing: "ready")
        #expect(process.terminate(grace: .milliseconds(300)) == 128 + SIGKILL)
    }
}

/// The state letter from /proc/PID/stat (R, S, Z, …), nil if the process is gone.
private func processState(_ pid: pid_t) -> Character? {
    let fd = open("/proc/\(pid)/stat", O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 512)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count > 0 else { return nil }
    // The command name in parentheses may contain spaces; the state follows the last ')'.
    let text = String(decoding: buffer[0..<count], as: UTF8.self)
    guard let close = text.lastIndex(of: ")") else { return nil }
    return text[close...].dropFirst(2).first
}
