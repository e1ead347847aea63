import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Certificates made with the `openssl` CLI in a fresh temporary directory: a CA and a server
/// certificate it signed, and a self-signed one nobody trusts. All for IP 127.0.0.1, with P-256
/// keys: RSA key generation takes seconds per key on this machine, EC keys a few ms.
public struct TestCertificates: Sendable {
    public let directory: String
    public var caCertificate: String { directory + "/ca.pem" }
    public var signedCertificate: String { directory + "/signed.pem" }
    public var signedKey: String { directory + "/signed.key" }
    public var selfSignedCertificate: String { directory + "/self.pem" }
    public var selfSignedKey: String { directory + "/self.key" }

    public static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bascule-health-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        do {
            try "subjectAltName=IP:127.0.0.1\n".write(toFile: directory + "/san.ext", atomically: true, encoding: .utf8)
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            try openssl(in: directory, ["req", "-x509"] + ec + ["-days", "1", "-subj", "/CN=Bascule Test CA",
                        "-keyout", "ca.key", "-out", "ca.pem"])
            try openssl(in: directory, ["req"] + ec + ["-subj", "/CN=127.0.0.1", "-keyout", "signed.key", "-out", "signed.csr"])
            try openssl(in: directory, ["x509", "-req", "-in", "signed.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                                        "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "signed.pem"])
            try openssl(in: directory, ["req", "-x509"] + ec + ["-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "self.key", "-out", "self.pem"])
        } catch {
            certificates.remove()
            throw error
        }
        return certificates
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func openssl(in directory: String, _ arguments: [String]) throws {
        _ = try CommandRun.succeeding("/usr/bin/openssl", arguments, directory: directory)
    }
}

/// `openssl s_server -www` on 127.0.0.1 and a free port: answers every GET with 200 and a
/// status page. A ManagedProcess, so it is killed when released even if `stop()` is forgotten.
public final class OpenSSLServer {
    public let port: UInt16
    private let process: ManagedProcess

    public init(certificate: String, key: String) throws {
        port = try freeLoopbackPort()
        process = try ManagedProcess(executable: "/usr/bin/openssl",
                                     arguments: ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", certificate, "-key", key,
                                                 "-www", "-quiet"])
        // Readiness is the port accepting a connection.
        let process = process
        let port = port
        try waitUntil("openssl s_server listening on 127.0.0.1:\(port)", timeout: .seconds(5)) {
            if process.hasExited {
                throw ManagedProcess.Failure(description: "openssl s_server exited: \(process.recentOutput())")
            }
            return (try? TCPClient(port: port, timeout: .seconds(1))) != nil
        }
    }

    public func stop() {
        process.terminate(grace: .zero)
    }
}
