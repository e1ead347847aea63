import BasculeConfig
import Glibc

/// Self-signed certificates for the demo's HTTPS backends (services on an address that routes
/// by TLS server name), made at demo start with the openssl command line in a fresh temporary
/// directory and removed when the demo stops, so the demo works on a fresh machine with
/// nothing to provision. Each names its service's first server name, so the certificate a
/// client receives shows which service answered.
final class DemoCertificates {
    let directory: String
    private var made: [String] = []

    init() throws {
        var template = Array("/tmp/bascule-demo-tls-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else {
            throw DemoError(description: "cannot make a directory for the demo certificates: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: path)
    }

    deinit {
        for file in made { unlink(file) }
        rmdir(directory)
    }

    /// `--tls-cert FILE --tls-key FILE` for a backend of `service`.
    func backendArguments(for service: ServiceConfig) throws -> [String] {
        let host = service.serverNames.first ?? "\(service.name).bascule.test"
        let certificate = "\(directory)/\(service.name).crt"
        let key = "\(directory)/\(service.name).key"
        if access(certificate, R_OK) != 0 {
            guard let openssl = Self.onPath("openssl") else {
                throw DemoError(description: "the demo's HTTPS services need the openssl command to make their certificates")
            }
            // Through sh only to silence openssl's progress output; every word is a validated
            // host name or a path under our mkdtemp directory, so nothing needs quoting.
            let command = "exec '\(openssl)' req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 "
                + "-subj /CN=\(host) -addext subjectAltName=DNS:\(host) -keyout '\(key)' -out '\(certificate)' 2>/dev/null"
            let child = try ChildProcess(path: "/bin/sh", arguments: ["-c", command], name: "openssl")
            guard child.waitForExit() == 0 else {
                throw DemoError(description: "openssl could not make a certificate for \(host)")
            }
            made += [certificate, key]
        }
        return ["--tls-cert", certificate, "--tls-key", key]
    }

    static func onPath(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    /// The services on addresses that route by TLS server name: their backends speak HTTPS.
    static func tlsServices(_ configuration: BasculeConfiguration) -> Set<String> {
        let routed = Set(configuration.services.filter(\.routesByServerName).map(\.listen))
        return Set(configuration.services.filter { routed.contains($0.listen) }.map(\.name))
    }
}
