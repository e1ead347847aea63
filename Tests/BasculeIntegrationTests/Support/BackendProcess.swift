import BasculeBackendService
import BasculeTestSupport

/// Starts `bascule-backend` processes for tests.
enum BackendProcess {
    /// Starts a backend on `host` port 0 and returns it with the port it reported once ready.
    /// `host` must be loopback: "127.0.0.1" or "::1".
    static func start(name: String, role: BackendRole = .publishing, mode: BackendMode = .http,
                      host: String = "127.0.0.1", extraArguments: [String] = [],
                      timeout: Duration = .seconds(15)) throws -> (process: ManagedProcess, port: UInt16) {
        let listen = host.contains(":") ? "[\(host)]:0" : "\(host):0"
        let process = try ManagedProcess(
            executable: TestBinaries.backend(),
            arguments: ["--listen", listen, "--name", name, "--role", role.rawValue, "--mode", mode.rawValue] + extraArguments)
        let line = try process.waitForLine(containing: "listening on ", timeout: timeout)
        guard let colon = line.lastIndex(of: ":"), let port = UInt16(line[line.index(after: colon)...]), port != 0 else {
            throw ManagedProcess.Failure(description: "bascule-backend printed an unparsable readiness line: \(line)")
        }
        return (process, port)
    }
}
