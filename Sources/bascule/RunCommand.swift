import ArgumentParser
import BasculeConfig
import BasculePosix
import BasculeProxy
import Logging

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the balancer (production).",
        discussion: """
            Signals: SIGTERM or SIGINT drain gracefully (stop accepting, wait up to drainTimeoutMs \
            for open connections; a second SIGINT closes them at once). SIGHUP reloads the \
            configuration. SIGUSR1 reopens log files.

            Upgrade without dropping a connection: run with --upgrade-socket PATH; a new \
            process started with the same --upgrade-socket and --takeover receives every \
            listening socket from the running one, serves on them, and the old one stops \
            accepting, drains and exits 0. `bascule upgrade` does this for you (it asks the \
            running process to start its successor). The same applies workers, accessLog and \
            admin.listen, which a reload cannot change. See docs/operations.md.
            """
    )

    @Option(name: [.customShort("c"), .customLong("config")],
            help: ArgumentHelp(stringLiteral: ConfigurationFile.optionHelp))
    var configOption: String?

    var config: String { ConfigurationFile.path(configOption) }

    @Option(help: "Worker threads; overrides the file's `workers` (0 or absent: one per core).")
    var workers: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Process log format on standard error: logfmt or json.")
    var logFormat: LogFormat = .logfmt

    @Option(help: "Unix socket to listen on for a successor taking this process over (e.g. /run/bascule/upgrade.sock).")
    var upgradeSocket: String?

    @Flag(help: "Take the listening sockets over from the bascule running on --upgrade-socket, then listen there for the next one.")
    var takeover = false

    func validate() throws {
        if takeover && upgradeSocket == nil {
            throw ValidationError("--takeover needs --upgrade-socket PATH: the running process's upgrade socket")
        }
        if let upgradeSocket, upgradeSocket.utf8.count > UnixSocket.maximumPathLength - 16 {
            throw ValidationError("--upgrade-socket: the path is too long for a Unix socket (at most \(UnixSocket.maximumPathLength - 16) bytes)")
        }
    }

    func run() throws {
        LogSetup.bootstrap(level: logLevel, format: logFormat)
        let configuration = try ConfigurationFile.loadOrExit(config)
        let log = Logger(label: "bascule")
        do {
            var inherited: InheritedListeners?
            if takeover, let upgradeSocket {
                do {
                    inherited = try InheritedListeners.receive(from: upgradeSocket, log: log)
                } catch {
                    throw AssemblyError(description: "\(error)")
                }
            }
            let assembly = try ProxyAssembly(configuration: configuration, configPath: config,
                                                workers: ConfigurationFile.resolvedWorkers(configuration, override: workers),
                                                log: log, inherited: inherited)
            assembly.controller.upgradeSocketPath = upgradeSocket
            if upgradeSocket != nil { assembly.controller.successorArguments = successorArguments }
            // "ready" on stdout once every listener is bound: what supervisors and tests wait for.
            let takingOver = inherited != nil
            try assembly.run {
                print("ready")
                fflushStdout()
                SystemdNotify.ready(takingOver: takingOver)
            }
        } catch let error as AssemblyError {
            var stderr = StandardError()
            print("bascule: \(error)", to: &stderr)
            throw ExitCode(1)
        }
    }

    /// This command line with `--takeover`: what `bascule upgrade` has this process start.
    private var successorArguments: [String] {
        let own = Array(CommandLine.arguments.dropFirst())
        return own.contains("--takeover") ? own : own + ["--takeover"]
    }
}
