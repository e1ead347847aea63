import BasculeTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A `bascule run` process with a configuration written for the test: its service ports and
/// admin port are picked free at run time. Ready when it prints "ready"; stopped (and reaped)
/// by `terminate()` or at the latest when released.
final class BalancerProcess {
    let process: ManagedProcess
    let configPath: String
    let directory: String
    /// Listen port per service name, and the admin port.
    let ports: [String: UInt16]
    let adminPort: UInt16

    /// `services` are config.json service objects without `listen` (added here). `extra`
    /// top-level keys (defaults, admin.token...) are merged in.
    init(services: [[String: Any]], workers: Int = 1, defaults: [String: Any] = [:], adminToken: String = "",
         extraTopLevel: [String: Any] = [:], extraArguments: [String] = [], shell prefix: String? = nil) throws {
        directory = NSTemporaryDirectory() + "bascule-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var ports: [String: UInt16] = [:]
        var withListen: [[String: Any]] = []
        for var service in services {
            if let listen = service["listen"] as? String, let port = listen.split(separator: ":").last.flatMap({ UInt16($0) }) {
                ports[service["name"] as! String] = port
            } else {
                let port = try freeLoopbackPort()
                ports[service["name"] as! String] = port
                service["listen"] = "127.0.0.1:\(port)"
            }
            withListen.append(service)
        }
        self.ports = ports
        adminPort = try freeLoopbackPort()
        var config: [String: Any] = [
            "workers": workers,
            "admin": ["listen": "127.0.0.1:\(adminPort)", "token": adminToken],
            "services": withListen,
        ]
        if !defaults.isEmpty { config["defaults"] = defaults }
        for (key, value) in extraTopLevel { config[key] = value }
        configPath = directory + "/config.json"
        try Self.write(config, to: configPath)
        let arguments = ["run", "--config", configPath, "--log-level", "info"] + extraArguments
        if let prefix {
            // A shell prefix such as `ulimit -n 64;` for resource-limit tests.
            let command = prefix + " exec '" + (try TestBinaries.bascule()) + "' " + arguments.map { "'\($0)'" }.joined(separator: " ")
            process = try ManagedProcess(executable: "/bin/sh", arguments: ["-c", command])
        } else {
            process = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: arguments)
        }
        _ = try process.waitForLine(containing: "ready", timeout: .seconds(30))
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func port(_ service: String) -> UInt16 { ports[service]! }

    /// Rewrites the configuration file (for reload tests), keeping the ports.
    func rewrite(services: [[String: Any]], workers: Int = 1) throws {
        let withListen = services.map { service -> [String: Any] in
            var service = service
            if service["listen"] == nil, let port = ports[service["name"] as! String] { service["listen"] = "127.0.0.1:\(port)" }
            return service
        }
        try Self.write(["workers": workers, "admin": ["listen": "127.0.0.1:\(adminPort)"], "services": withListen], to: configPath)
    }

    static func write(_ config: [String: Any], to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// The parsed /status document.
    func status() throws -> [String: Any] {
        let response = try TestHTTPClient().get(port: adminPort, path: "/status")
        guard response.status == 200,
              let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw ManagedProcess.Failure(description: "GET /status answered \(response.status)")
        }
        return object
    }

    /// State of one backend ("up", "down", "draining", "disabled") from /status.
    func state(service: String, backend: String) throws -> String? {
        let services = try status()["services"] as? [[String: Any]] ?? []
        let backends = services.first { $0["name"] as? String == service }?["backends"] as? [[String: Any]] ?? []
        return backends.first { $0["name"] as? String == backend }?["state"] as? String
    }

    /// The whole /metrics page.
    func metrics() throws -> String {
        String(decoding: try TestHTTPClient().get(port: adminPort, path: "/metrics").body, as: UTF8.self)
    }

    /// Sum of a metric's samples whose labels contain every given pair.
    func metric(_ name: String, _ labels: [String: String] = [:]) throws -> Double {
        var total = 0.0
        for line in try metrics().split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let matches = labels.allSatisfy { line.contains("\($0.key)=\"\($0.value)\"") }
            if matches, let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total += value }
        }
        return total
    }
}
