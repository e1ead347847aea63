import ArgumentParser
import BasculeConfig
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

    func run() throws {
        LogSetup.bootstrap(level: logLevel, format: logFormat)
        let configuration = try ConfigurationFile.loadOrExit(config)
        let log = Logger(label: "bascule")
        do {
            let assembly = try ProxyAssembly(configuration: configuration, configPath: config,
                                                workers: ConfigurationFile.resolvedWorkers(configuration, override: workers),
                                                log: log)
            // "ready" on stdout once every listener is bound: what supervisors and tests wait for.
            try assembly.run {
                print("ready")
                fflushStdout()
            }
        } catch let error as AssemblyError {
            var stderr = StandardError()
            print("bascule: \(error)", to: &stderr)
            throw ExitCode(1)
        }
    }
}
