import ArgumentParser
import BasculeBalancing
import BasculeConfig
import Glibc

/// Loading the configuration the same way for every subcommand.
enum ConfigurationFile {
    static let installedPath = "/etc/bascule/config.json"
    static let optionHelp = "Configuration file (default: $BASCULE_CONFIG, else \(installedPath))."

    /// `--config`, else `$BASCULE_CONFIG`, else where the package installs it. Never the
    /// working directory: a production call must not depend on where it was typed.
    static func path(_ option: String?) -> String {
        if let option { return option }
        if let fromEnvironment = getenv("BASCULE_CONFIG").map({ String(cString: $0) }), !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return installedPath
    }

    static func load(_ path: String) -> Result<BasculeConfiguration, ConfigErrors> {
        ConfigLoader.load(path: path, knownStrategies: StrategyRegistry.names)
    }

    /// The configuration, or every error printed with its JSON path and exit status 2.
    static func loadOrExit(_ path: String) throws -> BasculeConfiguration {
        switch load(path) {
        case .success(let configuration):
            return configuration
        case .failure(let failure):
            printErrors(failure, path: path)
            throw ExitCode(2)
        }
    }

    static func printErrors(_ failure: ConfigErrors, path: String) {
        var stderr = StandardError()
        for error in failure.errors {
            print("\(path): \(error)", to: &stderr)
        }
        let count = failure.errors.count
        print("\(path): \(count) error\(count == 1 ? "" : "s"); nothing was started", to: &stderr)
    }

    static func resolvedWorkers(_ configuration: BasculeConfiguration, override: Int?) -> Int {
        if let override, override > 0 { return override }
        if configuration.workers > 0 { return configuration.workers }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
