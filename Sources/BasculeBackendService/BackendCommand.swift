import ArgumentParser
import BasculeConfig
import BasculePosix
#if canImport(Glibc)
import Glibc
#endif

extension SocketAddress: ExpressibleByArgument {
    /// `127.0.0.1:8080`, `[::1]:8080`, `localhost:0`: config's endpoint rules, where port 0
    /// asks the kernel for a free port. Host names are not resolved (localhost aside): a
    /// listen address that depends on DNS at start-up is a surprise.
    public init?(argument: String) {
        let text = argument.hasPrefix("localhost:") ? "127.0.0.1" + argument.dropFirst("localhost".count) : argument
        guard let endpoint = Endpoint(parsing: text, allowsPortZero: true) else { return nil }
        self.init(bytes: endpoint.address.bytes, port: endpoint.port)
    }
}

extension BackendRole: ExpressibleByArgument {}
extension BackendMode: ExpressibleByArgument {}

/// The backend service's command line; shared by `bascule-backend` and by `bascule backend`,
/// which the demo uses when `bascule-backend` was not built beside it.
public struct BackendCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bascule-backend",
        abstract: "A minimal backend server for trying, testing and benchmarking Bascule.",
        discussion: """
            Once listening, prints one line, "listening on HOST:PORT", with the real port \
            (use port 0 to let the kernel choose). SIGTERM or SIGINT stops it at once.

            HTTP routes: GET /health, GET /whoami, GET / (a document for the role), \
            GET /content/NAME?size=N (N deterministic bytes, Range supported; N accepts \
            K/KiB/M/MiB/G/GiB), POST /admin/fail, POST /admin/recover, POST /admin/slow?ms=M, \
            POST /admin/agent?say=TEXT (what the agent port answers: up, down, drain, maint, ready, 75%, \
            optionally "#reason"; percent-encoded). Every response carries X-Backend: NAME. \
            With --tls-cert and --tls-key the same routes are served over TLS (OpenSSL), after \
            the PROXY header if --accept-proxy.

            With --agent-listen, a second line follows: "agent answering on HOST:PORT".
            """,
        version: BasculeVersion.string)

    @Option(help: ArgumentHelp("Address to listen on: 127.0.0.1:9101, [::1]:9101, or port 0 for any free port.",
                               valueName: "host:port"))
    public var listen: SocketAddress

    @Option(help: "Name reported by /whoami and in the X-Backend header.")
    public var name: String

    @Option(help: "What GET / returns: a package list (publishing), a JSON status (management) or a CSV report (reporting).")
    public var role: BackendRole = .publishing

    @Option(help: "http serves the routes; echo is a raw TCP echo server.")
    public var mode: BackendMode = .http

    @Flag(help: "Expect a PROXY protocol header (v1 or v2) on each connection and report its client address in X-Client-Address.")
    public var acceptProxy = false

    @Option(help: ArgumentHelp("Also answer agent checks here: one line per connection (\"up\" until POST /admin/agent?say= changes it).",
                               valueName: "host:port"))
    public var agentListen: SocketAddress?

    @Option(name: .customLong("tls-cert"),
            help: ArgumentHelp("Serve HTTPS with this certificate (PEM, chain allowed); needs --tls-key.", valueName: "file"))
    public var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The certificate's private key (PEM).", valueName: "file"))
    public var tlsKey: String?

    public init() {}

    public func validate() throws {
        guard (tlsCertificate == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        guard tlsCertificate == nil || mode == .http else { throw ValidationError("--tls-cert needs --mode http") }
        guard !name.isEmpty else { throw ValidationError("--name must not be empty") }
        guard !name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
            throw ValidationError("--name must not contain control characters (it is sent in a header)")
        }
    }

    public func run() throws {
        TerminationSignals.block()
        FileDescriptorLimit.raiseToHardLimit()
        var configuration = BackendConfiguration(listen: listen, name: name, role: role, mode: mode)
        configuration.acceptProxy = acceptProxy
        configuration.agentListen = agentListen
        if let tlsCertificate, let tlsKey {
            configuration.tls = try TLSServerContext(certificateFile: tlsCertificate, keyFile: tlsKey)
        }
        let server = try BackendServer(configuration: configuration)
        try server.start()
        // The readiness signal scripts and tests wait for: written unbuffered, in one write.
        let ready = Array("listening on \(server.boundAddress)\n".utf8)
        _ = ready.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if let agent = server.boundAgentAddress {
            let line = Array("agent answering on \(agent)\n".utf8)
            _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        }
        _ = TerminationSignals.wait()
        // Connections are plain blocking threads with nothing to flush: exiting is the shutdown.
        Glibc.exit(0)
    }
}
