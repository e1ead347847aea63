import ArgumentParser
import BasculeConfig
import BasculePosix
import BasculeProxy
import Glibc
import Logging

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start the local demo pool from config.json and the balancer in front of it.",
        discussion: """
            Every backend in the configuration is started as a `bascule-backend` process on its \
            loopback address (the service name is its role when it is publishing, management or \
            reporting). Backends of services on an address that routes by TLS server name \
            (serverNames) serve HTTPS with a self-signed certificate made at start with the \
            openssl command. Ctrl-C stops everything.
            """
    )

    @Option(name: .shortAndLong, help: "Path to the configuration file.")
    var config: String = "config.json"

    @Option(help: "Worker threads (default: the file's `workers`).")
    var workers: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .notice

    @Option(help: "Process log format on standard error: logfmt or json.")
    var logFormat: LogFormat = .logfmt

    func run() throws {
        LogSetup.bootstrap(level: logLevel, format: logFormat)
        let configuration = try ConfigurationFile.loadOrExit(config)
        let (backendPath, backendPrefix) = try Self.backendExecutable()
        var children: [ChildProcess] = []
        defer { children.reversed().forEach { $0.stop() } }

        let tlsServices = DemoCertificates.tlsServices(configuration)
        let certificates = tlsServices.isEmpty ? nil : try DemoCertificates()
        for service in configuration.services {
            let role = ["publishing", "management", "reporting"].first { service.name.hasPrefix($0) } ?? "publishing"
            let tls = tlsServices.contains(service.name) ? try certificates?.backendArguments(for: service) ?? [] : []
            for backend in service.backends {
                children.append(try ChildProcess(
                    path: backendPath,
                    arguments: backendPrefix + ["--listen", backend.address.description, "--name", backend.name, "--role", role] + tls,
                    name: backend.name))
            }
        }
        for (child, endpoint) in zip(children, configuration.services.flatMap { $0.backends.map(\.address) }) {
            try Self.waitUntilListening(endpoint, child: child)
        }

        let assembly: ProxyAssembly
        do {
            assembly = try ProxyAssembly(configuration: configuration, configPath: config,
                                            workers: ConfigurationFile.resolvedWorkers(configuration, override: workers),
                                            log: Logger(label: "bascule"))
            try assembly.run {
                print(Self.banner(configuration, backendCount: children.count))
                fflushStdout()
            }
        } catch let error as AssemblyError {
            throw DemoError(description: "\(error)")
        }
        print("bascule demo: balancer stopped; stopping \(children.count) backends")
    }

    static func banner(_ configuration: BasculeConfiguration, backendCount: Int) -> String {
        var lines = ["", "Bascule demo: \(backendCount) backends started, balancer running.", ""]
        let tlsServices = DemoCertificates.tlsServices(configuration)
        let rows = configuration.services.map { service in
            let url = tlsServices.contains(service.name)
                ? "https://\(service.listen)/ " + (service.serverNames.isEmpty ? "(any other name)" : "for " + service.serverNames.joined(separator: " "))
                : "http://\(service.listen)/"
            return ["", service.name, url, service.strategy,
                    "[" + service.backends.map { "\($0.name)\($0.backup ? " (backup)" : "")" }.joined(separator: ", ") + "]"]
        }
        lines += CtlOutput.table(rows)
        if let first = configuration.services.first(where: { !tlsServices.contains($0.name) }) {
            lines.append("")
            lines.append("  Try:   curl http://\(first.listen)/whoami")
        }
        if let named = configuration.services.first(where: { $0.routesByServerName }),
           let name = named.serverNames.first(where: { !$0.hasPrefix("*") }) {
            let port = named.listen.port
            if lines.last?.hasPrefix("  Try:") != true { lines.append("") }
            lines.append((lines.last?.hasPrefix("  Try:") == true ? "         " : "  Try:   ") + "curl -k --resolve \(name):\(port):\(named.listen.host) https://\(name):\(port)/whoami   (TLS passthrough, routed by SNI)")
        }
        lines.append("  Dashboard: http://\(configuration.admin.listen)/   metrics: http://\(configuration.admin.listen)/metrics")
        lines.append("")
        lines.append("Press Ctrl-C to stop (twice to skip draining).")
        return lines.joined(separator: "\n")
    }

    /// bascule-backend beside bascule (the package builds it with bascule), else this binary's
    /// own `backend` subcommand, for a bascule copied somewhere on its own.
    static func backendExecutable() throws -> (path: String, prefix: [String]) {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { throw DemoError(description: "cannot find my own executable") }
        let own = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let directory = own.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let sibling = directory + "/bascule-backend"
        if access(sibling, X_OK) == 0 { return (sibling, []) }
        return (own, ["backend"])
    }

    /// Polls until the backend accepts connections: the readiness condition itself, bounded.
    static func waitUntilListening(_ endpoint: Endpoint, child: ChildProcess, timeoutMs: Int = 10_000) throws {
        let address = SocketAddress(endpoint)
        var waited = 0
        while waited < timeoutMs {
            guard child.isRunning else {
                throw DemoError(description: "backend \(child.name) exited at start (is \(endpoint) already in use?)")
            }
            if let fd = try? BlockingSocket.connect(to: address, timeoutSeconds: 1) {
                closeDescriptor(fd)
                return
            }
            usleep(20_000)
            waited += 20
        }
        throw DemoError(description: "backend \(child.name) did not start listening on \(endpoint) within \(timeoutMs) ms")
    }
}
