import BasculeBackendService
import BasculeTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Helpers for the fault and operator-surface tests: a backend that can be killed, stopped and
// restarted on the same port, config fragments, admin calls, and a download that survives
// being cut.

/// A `bascule-backend` the test can kill, stop and restart on the same port.
final class PoolBackend {
    let name: String
    let role: BackendRole
    let port: UInt16
    private(set) var process: ManagedProcess

    init(name: String, role: BackendRole = .publishing) throws {
        self.name = name
        self.role = role
        (process, port) = try BackendProcess.start(name: name, role: role)
    }

    deinit {
        // SIGCONT first: a stopped process would ignore the SIGTERM until the SIGKILL.
        process.signal(SIGCONT)
        process.terminate(grace: .seconds(2))
    }

    var address: String { "127.0.0.1:\(port)" }

    /// This backend as a config.json backend object.
    func config(weight: Int = 1, backup: Bool = false) -> [String: Any] {
        var object: [String: Any] = ["name": name, "address": address, "weight": weight]
        if backup { object["backup"] = true }
        return object
    }

    /// SIGKILL, and waits until the process is reaped (its sockets are gone by then).
    func kill() throws {
        process.signal(SIGKILL)
        guard process.waitForExit(timeout: .seconds(10)) != nil else {
            throw ManagedProcess.Failure(description: "\(name) survived SIGKILL")
        }
    }

    func stop() { process.signal(SIGSTOP) }
    func resume() { process.signal(SIGCONT) }

    /// Starts the backend again on the port it had (the backend sets SO_REUSEADDR).
    func restart() throws {
        process.terminate(grace: .seconds(2))
        let restarted = try ManagedProcess(
            executable: TestBinaries.backend(),
            arguments: ["--listen", address, "--name", name, "--role", role.rawValue])
        process = restarted
        try restarted.waitForLine(containing: "listening on ", timeout: .seconds(15))
    }

    /// POST /admin/fail, /admin/recover or /admin/slow?ms= on the backend itself.
    func admin(_ path: String) throws {
        let response = try TestHTTPClient().request("POST", port: port, path: path)
        guard response.status == 200 else {
            throw ManagedProcess.Failure(description: "\(name) answered \(response.status) to POST \(path)")
        }
    }
}

/// Starts `count` backends named `prefix1`, `prefix2`, …
func startPool(_ prefix: String, count: Int, role: BackendRole = .publishing) throws -> [PoolBackend] {
    try (1...count).map { try PoolBackend(name: "\(prefix)\($0)", role: role) }
}

/// A healthCheck object with the short timings the fault tests use.
func healthCheckConfig(_ type: String = "http", intervalMs: Int = 200, timeoutMs: Int = 150,
                       rise: Int = 2, fall: Int = 2) -> [String: Any] {
    var check: [String: Any] = ["type": type, "intervalMs": intervalMs, "timeoutMs": timeoutMs, "rise": rise, "fall": fall]
    if type == "http" {
        check["path"] = "/health"
        check["expectStatus"] = [200]
    }
    return check
}

/// A config.json service object (without `listen`; BalancerProcess adds it).
func serviceConfig(_ name: String, strategy: String = "least-connections", retries: Int = 2,
                   healthCheck: [String: Any] = healthCheckConfig(), backends: [[String: Any]]) -> [String: Any] {
    ["name": name, "strategy": strategy, "retries": retries, "healthCheck": healthCheck, "backends": backends]
}

extension BalancerProcess {
    /// One admin request, with a bearer token when given.
    func admin(_ method: String, _ path: String, token: String? = nil, body: [UInt8] = []) throws -> TestHTTPResponse {
        let headers = token.map { [("Authorization", "Bearer \($0)")] } ?? []
        return try TestHTTPClient().request(method, port: adminPort, path: path, headers: headers, body: body)
    }

    /// One backend's object from /status.
    func backendStatus(service: String, backend: String) throws -> [String: Any]? {
        let services = try status()["services"] as? [[String: Any]] ?? []
        let backends = services.first { $0["name"] as? String == service }?["backends"] as? [[String: Any]] ?? []
        return backends.first { $0["name"] as? String == backend }
    }

    /// Waits until /status shows `state` for the backend; returns how long that took.
    @discardableResult
    func waitForState(_ state: String, service: String, backend: String,
                      timeout: Duration = .seconds(15), poll: Duration = .milliseconds(10)) throws -> Duration {
        let started = ContinuousClock.now
        var last: String?
        do {
            try waitUntil("\(service)/\(backend) \(state) in /status", timeout: timeout, poll: poll) {
                last = try self.state(service: service, backend: backend)
                return last == state
            }
        } catch {
            throw ManagedProcess.Failure(description: "\(error) (last state: \(last ?? "none")); balancer output:\n"
                                         + process.recentOutput())
        }
        return ContinuousClock.now - started
    }

    /// The backend that answered a fresh `GET path` through the service (its X-Backend).
    func servedBy(_ service: String, path: String = "/whoami") throws -> String {
        let response = try TestHTTPClient().get(port: port(service), path: path)
        guard response.status == 200, let backend = response.header("X-Backend") else {
            throw TestHTTPError(description: "GET \(path) through \(service) answered \(response.status) without X-Backend")
        }
        return backend
    }
}

/// A GET whose body is streamed to `onBody` and whose head is handed over first (so the test
/// knows which backend serves before the body ends). A connection cut mid-body is not an
/// error here: the result says how much arrived and why it stopped.
struct StreamedDownload {
    var status: Int
    var headers: [(name: String, value: String)]
    var declaredLength: UInt64?
    var bytesReceived: UInt64
    /// Why the body stopped short: nil when it arrived whole.
    var cut: String?

    func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    var complete: Bool { cut == nil && declaredLength.map { $0 == bytesReceived } ?? false }
}

/// `onHead` sees the status and headers; `onBody` every body chunk with the total so far.
func streamDownload(port: UInt16, path: String, headers: [(String, String)] = [], timeout: Duration = .seconds(10),
                    onHead: (Int, [(name: String, value: String)]) throws -> Void = { _, _ in },
                    onBody: (UnsafeRawBufferPointer, UInt64) throws -> Void) throws -> StreamedDownload {
    let socket = try TCPClient(port: port, timeout: timeout)
    defer { socket.close() }
    var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    try socket.sendAll(head + "\r\n")

    // The head: read until the blank line; whatever follows is the body's start.
    var pending: [UInt8] = []
    var headEnd: Int?
    while headEnd == nil {
        let chunk = try socket.read(maxBytes: 64 * 1024)
        if chunk.isEmpty { throw TestHTTPError(description: "connection closed before a response head (\(pending.count) bytes)") }
        let searchFrom = max(0, pending.count - 3)
        pending += chunk
        if pending.count >= 4 {
            for index in searchFrom...(pending.count - 4)
            where pending[index] == 13 && pending[index + 1] == 10 && pending[index + 2] == 13 && pending[index + 3] == 10 {
                headEnd = index + 4
                break
            }
        }
        if headEnd == nil && pending.count > 64 * 1024 { throw TestHTTPError(description: "response head over 64 KiB") }
    }
    let lines = String(decoding: pending[0..<headEnd!], as: UTF8.self).split(separator: "\r\n")
    let statusParts = lines.first?.split(separator: " ") ?? []
    guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
        throw TestHTTPError(description: "bad status line: \(lines.first ?? "")")
    }
    var responseHeaders: [(name: String, value: String)] = []
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        responseHeaders.append((String(line[..<colon]),
                                line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
    }
    try onHead(status, responseHeaders)
    let declared = responseHeaders.first { $0.name.lowercased() == "content-length" }.flatMap { UInt64($0.value) }
    var result = StreamedDownload(status: status, headers: responseHeaders, declaredLength: declared, bytesReceived: 0, cut: nil)

    let limit = declared ?? .max
    func deliver(_ bytes: UnsafeRawBufferPointer) throws {
        let take = Int(min(UInt64(bytes.count), limit - result.bytesReceived))
        guard take > 0 else { return }
        result.bytesReceived += UInt64(take)
        try onBody(UnsafeRawBufferPointer(rebasing: bytes[0..<take]), result.bytesReceived)
    }
    try pending[headEnd!...].withUnsafeBytes { try deliver($0) }

    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
    defer { buffer.deallocate() }
    while result.bytesReceived < limit {
        let count: Int
        do {
            count = try socket.read(into: buffer)
        } catch {
            result.cut = "\(error)"
            return result
        }
        if count == 0 {
            if declared != nil { result.cut = "connection closed after \(result.bytesReceived) of \(limit) bytes" }
            return result
        }
        try deliver(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
    }
    return result
}
