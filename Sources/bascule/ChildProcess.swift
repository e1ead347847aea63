import Glibc

/// A process the demo starts and must stop again.
final class ChildProcess {
    let pid: pid_t
    let name: String

    /// Spawns `path` in a process group of its own, so the terminal's Ctrl-C reaches only the
    /// balancer, which then drains and stops its children in order.
    init(path: String, arguments: [String], name: String) throws {
        self.name = name
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child = pid_t()
        let result = posix_spawn(&child, path, nil, &attributes, argv, environ)
        guard result == 0 else {
            throw DemoError(description: "cannot start \(path): \(String(cString: strerror(result)))")
        }
        pid = child
    }

    var isRunning: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// Waits for a short-lived helper (openssl) and returns its exit status.
    func waitForExit() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// SIGTERM, then SIGKILL if it has not exited within the grace period.
    func stop(graceMs: Int = 2000) {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        var waited = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if waited >= graceMs {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                return
            }
            usleep(10_000)
            waited += 10
        }
    }
}

struct DemoError: Error, CustomStringConvertible {
    let description: String
}
