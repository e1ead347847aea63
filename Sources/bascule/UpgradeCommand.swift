import ArgumentParser
import BasculePosix
import BasculeProxy
import Glibc

/// `bascule upgrade`: replaces the running balancer by a new process (a new binary, or the
/// same one to apply workers, accessLog or admin.listen) without closing its listeners.
struct UpgradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Replace the running balancer by a new process without dropping a connection.",
        discussion: """
            Asks the bascule listening on the upgrade socket to start its successor: the \
            executable given (default: this one, i.e. the newly installed binary) with the \
            running process's own arguments and --takeover. The successor loads the \
            configuration file, receives every listening socket, serves on them, and the old \
            process stops accepting, drains its open connections (up to drainTimeoutMs) and \
            exits 0. Exit status 0 once the successor serves; 1 when the handover failed (the \
            old process then serves on as before; the reason is printed and in both logs).
            Under systemd the successor is started by the running process, inside the unit, \
            and becomes its main process (see deploy/systemd/bascule.service, docs/operations.md).
            """
    )

    @Option(help: "The running process's upgrade socket (its --upgrade-socket).")
    var upgradeSocket: String = "/run/bascule/upgrade.sock"

    @Option(help: "Executable of the new process (default: this bascule binary).")
    var executable: String?

    @Option(help: "Seconds to wait for the successor to serve.")
    var timeout: Double = 40

    func run() throws {
        let path = executable ?? Self.ownExecutable()
        guard access(path, X_OK) == 0 else { Self.fail("\(path) is not an executable file") }
        let fd: Int32
        do {
            fd = try UnixSocket.connect(path: upgradeSocket, timeoutSeconds: timeout)
        } catch {
            Self.fail("cannot reach a running bascule at \(upgradeSocket): \(error.reason) (was it started with --upgrade-socket?)")
        }
        defer { closeDescriptor(fd) }
        guard UpgradeRequest.send(fd, executable: path) else { Self.fail("the running process closed the connection") }
        switch UpgradeRequest.outcome(fd) {
        case .success(let pid):
            print("upgraded: process \(pid) serves; the old process drains its open connections and exits")
        case .failure(let reason):
            Self.fail("upgrade failed, the running process serves on: \(reason)")
        }
    }

    /// The binary that runs this command: where the package manager has just put the new one.
    static func ownExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func fail(_ message: String) -> Never {
        var stderr = StandardError()
        print("bascule upgrade: \(message)", to: &stderr)
        Glibc.exit(1)
    }
}
