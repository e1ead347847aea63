import ArgumentParser
import BasculeConfig

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration file and print what it would run.",
        discussion: "Prints every error with its JSON path and exits with status 2 if there is any."
    )

    @Option(name: [.customShort("c"), .customLong("config")],
            help: ArgumentHelp(stringLiteral: ConfigurationFile.optionHelp))
    var configOption: String?

    var config: String { ConfigurationFile.path(configOption) }

    func run() throws {
        let configuration = try ConfigurationFile.loadOrExit(config)
        var stderr = StandardError()
        for warning in configuration.warnings {
            print("\(config): warning: \(warning)", to: &stderr)
        }
        print("\(config): OK")
        print(configuration.summary(resolvedWorkers: ConfigurationFile.resolvedWorkers(configuration, override: nil)))
    }
}
