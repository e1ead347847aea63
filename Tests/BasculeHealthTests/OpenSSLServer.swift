import BasculeEventLoop
import CLinux
import Foundation
import Glibc

/// Certificates made with the `openssl` CLI in a fresh temporary directory: a CA and a server
/// certificate it signed, and a self-signed one nobody trusts. All for IP 127.0.0.1, with P-256
/// keys: RSA key generation takes seconds per key on this machine, EC keys a few ms.
struct TestCertificates {
    let directory: URL
    var caCertificate: String { directory.appendingPathComponent("ca.pem").path }
    var signedCertificate: String { directory.appendingPathComponent("signed.pem").path }
    var signedKey: String { directory.appendingPathComponent("signed.key").path }
    var selfSignedCertificate: String { directory.appendingPathComponent("self.pem").path }
    var selfSignedKey: String { directory.appendingPathComponent("self.key").path }

    static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bascule-health-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        do {
            try "subjectAltName=IP:127.0.0.1\n".write(to: directory.appendingPathComponent("san.ext"), atomically: true, encoding: .utf8)
            try openssl(in: directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=Bascule Test CA",
                        "-keyout", "ca.key", "-out", "ca.pem")
            try openssl(in: directory, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
                        "-keyout", "signed.key", "-out", "signed.csr")
            try openssl(in: directory, "x509", "-req", "-in", "signed.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                        "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "signed.pem")
            try openssl(in: directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "self.key", "-out", "self.pem")
        } catch {
            certificates.remove()
            throw error
        }
        return certificates
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    private static func openssl(in directory: URL, _ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestFailure("openssl \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `openssl s_server -www` on 127.0.0.1 and a free port: answers every GET with 200 and a
/// status page. `stop()` must run whatever happens (callers use `defer`).
final class OpenSSLServer {
    let port: UInt16
    private let process = Process()

    init(certificate: String, key: String) throws {
        port = try LoopbackHTTPServer.refusingPort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", certificate, "-key", key, "-www", "-quiet"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        do {
            try waitUntilListening()
        } catch {
            stop()
            throw error
        }
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Readiness is the port accepting a connection, polled with a deadline.
    private func waitUntilListening() throws {
        let deadline = cl_monotonic_ns() + 5_000_000_000
        while cl_monotonic_ns() < deadline {
            guard process.isRunning else { throw TestFailure("openssl s_server exited with \(process.terminationStatus)") }
            if Self.accepts(port: port) { return }
            usleep(20_000)
        }
        throw TestFailure("openssl s_server did not listen on 127.0.0.1:\(port) within 5 s")
    }

    private static func accepts(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { closeDescriptor(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
