import BasculeTestSupport
import Foundation

/// Self-signed certificates made with the openssl command line for one test: each names one
/// host (subject CN and subjectAltName), so the certificate a client receives proves which
/// backend answered.
final class TLSCertificates {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "bascule-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Makes (once) and returns the certificate and key files for `host`.
    func files(for host: String) throws -> (certificate: String, key: String) {
        let certificate = "\(directory)/\(host).crt"
        let key = "\(directory)/\(host).key"
        if !FileManager.default.fileExists(atPath: certificate) {
            _ = try CommandRun.succeeding(try Self.openssl(), [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=\(host)", "-addext", "subjectAltName=DNS:\(host)", "-keyout", key, "-out", certificate,
            ])
        }
        return (certificate, key)
    }

    /// `--tls-cert FILE --tls-key FILE` for bascule-backend.
    func backendArguments(for host: String) throws -> [String] {
        let (certificate, key) = try files(for: host)
        return ["--tls-cert", certificate, "--tls-key", key]
    }

    static func openssl() throws -> String {
        guard let path = CommandRun.which("openssl") else {
            throw ManagedProcess.Failure(description: "the openssl command is needed to make test certificates")
        }
        return path
    }
}

/// What `openssl s_client` saw when it connected to `port` asking for `serverName` (nil: no
/// SNI) and sent one HTTP request: the server certificate's subject CN and the response's
/// X-Backend header; nil fields when the handshake failed (the balancer refused).
struct TLSProbe {
    var subject: String?
    var backend: String?

    static func run(port: UInt16, serverName: String?, alpn: String? = nil, timeout: Duration = .seconds(10)) throws -> TLSProbe {
        // -ign_eof keeps the session open after stdin ends, so the response is read.
        var arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-brief", "-ign_eof"]
        arguments += serverName.map { ["-servername", $0] } ?? ["-noservername"]
        if let alpn { arguments += ["-alpn", alpn] }
        let request = "GET /whoami HTTP/1.1\r\nHost: \(serverName ?? "none")\r\nConnection: close\r\n\r\n"
        let process = try ManagedProcess(executable: "/bin/sh", arguments: [
            "-c", "printf '\(request.replacingOccurrences(of: "\r\n", with: "\\r\\n"))' | exec '\(try TLSCertificates.openssl())' "
                + arguments.map { "'\($0)'" }.joined(separator: " ") + " 2>&1",
        ])
        guard process.waitForExit(timeout: timeout) != nil else {
            process.terminate(grace: .seconds(1))
            throw ManagedProcess.Failure(description: "openssl s_client did not finish: \(process.recentOutput())")
        }
        var probe = TLSProbe()
        for line in process.lines.map(\.text) {
            // "Peer certificate: CN = www.example.com" (-brief, OpenSSL 3).
            if let range = line.range(of: "Peer certificate: ") {
                probe.subject = line[range.upperBound...].split(separator: ",").first { $0.hasPrefix("CN") }
                    .map { String($0.drop { $0 != "=" }.dropFirst()).trimmingCharacters(in: .whitespaces) }
            }
            if line.lowercased().hasPrefix("x-backend:") {
                probe.backend = String(line.dropFirst("x-backend:".count)).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        return probe
    }
}
