import BasculeTestSupport
import Foundation
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
            !ParentDeathProbe.isAlive(grandchild)
        }
    }

    /// A crashed runner runs no deinit: the kernel must kill what it started. The intermediate
    /// process stands for the runner; it starts its child as ManagedProcess does, then is SIGKILLed.
    @Test func aChildDiesWhenTheProcessThatStartedItIsKilled() throws {
        let started = try ParentDeathProbe.start(executable: "/bin/sleep", arguments: ["60"], guarded: true)
        defer { kill(started.child, SIGKILL) }
        #expect(ParentDeathProbe.isAlive(started.child))
        killAndReap(started.intermediate)
        try waitUntil("child \(started.child) to die with its parent", timeout: .seconds(5)) {
            !ParentDeathProbe.isAlive(started.child)
        }
    }

    /// A child that must clean up after itself (the scale-out lab's script, which made network
    /// namespaces outside its process group) is sent SIGTERM instead, and its trap runs: under
    /// SIGKILL no trap could, and the file would never be written.
    @Test func aChildGivenSIGTERMAsItsDeathSignalCleansUpWhenItsParentIsKilled() throws {
        let marker = NSTemporaryDirectory() + "bascule-death-signal-\(getpid()).txt"
        let ready = marker + ".ready"
        for path in [marker, ready] { unlink(path) }
        defer { for path in [marker, ready] { unlink(path) } }
        // The child's output goes nowhere: it says it has set its trap with a file.
        let script = "trap 'echo cleaned > \(marker); exit 0' TERM; : > \(ready); while :; do sleep 0.05; done"
        let started = try ParentDeathProbe.start(executable: "/bin/sh", arguments: ["-c", script], guarded: true,
                                                 deathSignal: SIGTERM)
        defer { kill(started.child, SIGKILL) }
        try waitUntil("the child to set its trap", timeout: .seconds(5)) { access(ready, F_OK) == 0 }
        killAndReap(started.intermediate)
        try waitUntil("child \(started.child) to run its trap and exit", timeout: .seconds(5)) {
            !ParentDeathProbe.isAlive(started.child)
        }
        #expect((try? String(contentsOfFile: marker, encoding: .utf8)) == "cleaned\n")
    }

    /// The control for the tests above: without the guard the same child outlives its parent,
    /// so the test above can fail.
    @Test func withoutTheGuardAChildOutlivesTheProcessThatStartedIt() throws {
        let started = try ParentDeathProbe.start(executable: "/bin/sleep", arguments: ["60"], guarded: false)
        defer { kill(started.child, SIGKILL) }
        killAndReap(started.intermediate)
        // Long enough for a guarded child to have died (it dies within milliseconds): this is
        // the absence of an event, which only a bounded wait can show.
        let deadline = ContinuousClock.now + .milliseconds(500)
        while ContinuousClock.now < deadline {
            #expect(ParentDeathProbe.isAlive(started.child))
            sleep(for: .milliseconds(50))
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

private func killAndReap(_ pid: pid_t) {
    kill(pid, SIGKILL)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
}
