import CBasculeTestSupport
import CLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// For the test of ManagedProcess's parent-death guard: a child started by a process that is
/// then SIGKILLed, as a crashed test runner would be, with no chance to clean up.
public enum ParentDeathProbe {
    public struct Started {
        /// The process that started `child`; the test kills it.
        public let intermediate: pid_t
        public let child: pid_t
    }

    /// Forks an intermediate process that starts `executable` with the same guard ManagedProcess
    /// uses, sending `deathSignal` (or, with `guarded: false`, without it, to show what the guard
    /// prevents). The caller must SIGKILL and reap `intermediate`, and make sure `child` is gone.
    public static func start(executable: String, arguments: [String], guarded: Bool,
                             deathSignal: Int32 = SIGKILL) throws -> Started {
        var report: [Int32] = [-1, -1]
        guard cl_pipe2_nonblock(&report) == 0 else { throw ManagedProcess.Failure(description: "pipe2 failed: errno \(errno)") }
        for fd in report { _ = fcntl(fd, F_SETFL, 0) }
        defer { close(report[0]) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [nil]
        var intermediate: pid_t = 0
        let result = bts_spawn_through_intermediate(executable, argv, envp, guarded ? deathSignal : 0, report[1], &intermediate)
        close(report[1])
        guard result == 0 else { throw ManagedProcess.Failure(description: "fork failed: errno \(result)") }
        // Our write end is closed: the read ends with the pid, or with EOF if the intermediate died.
        var child: pid_t = -1
        let count = withUnsafeMutableBytes(of: &child) { buffer in
            var got = -1
            repeat { got = read(report[0], buffer.baseAddress, buffer.count) } while got < 0 && errno == EINTR
            return got
        }
        guard count == MemoryLayout<pid_t>.size, child > 0 else {
            kill(intermediate, SIGKILL)
            var status: Int32 = 0
            waitpid(intermediate, &status, 0)
            throw ManagedProcess.Failure(description: "the intermediate process could not start \(executable)")
        }
        return Started(intermediate: intermediate, child: child)
    }

    /// Whether `pid` is a live process: not gone, and not a zombie waiting for its new parent.
    public static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state != "Z" && state != "X"
    }
}
