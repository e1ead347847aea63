import BasculePosix
import Glibc

/// Starts the process that will take this one over (`bascule upgrade`): the same arguments
/// with `--takeover`, and the executable the operator names (the newly installed binary; this
/// process's own file may already have been replaced on disk). Started from here rather than
/// by the caller so that under systemd it is born in the service's cgroup, with its sandbox,
/// and can become the unit's main process.
enum SuccessorProcess {
    static func spawn(executable: String, arguments: [String]) -> Result<pid_t, SystemError> {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The control thread blocks the signals it reads through a signalfd; the successor
        // must start with them deliverable, and with SIGPIPE's default restored.
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child = pid_t()
        let result = posix_spawn(&child, executable, nil, &attributes, argv, environ)
        guard result == 0 else { return .failure(SystemError(errno: result, call: "posix_spawn(\(executable))")) }
        return .success(child)
    }
}
