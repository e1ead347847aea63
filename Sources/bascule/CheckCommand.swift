import ArgumentParser
import BasculeConfig
import BasculeProxy

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
        // A name that does not resolve now is not an error: the balancer starts without its
        // backends and keeps asking. It is worth a look before a deploy, though.
        let source = SystemAddressSource()
        var checked: Set<HostName> = []
        for (index, service) in configuration.services.enumerated() {
            for entry in service.namedBackends where checked.insert(entry.host).inserted {
                if case .failure(let failure) = source.resolve(entry.host) {
                    print("\(config): warning: services[\(index)] (\(service.name)) backend \(entry.name): \(entry.host) does not resolve now "
                          + "(\(failure)); bascule would start without its backends and keep trying", to: &stderr)
                }
            }
        }
        print("\(config): OK")
        print(configuration.summary(resolvedWorkers: ConfigurationFile.resolvedWorkers(configuration, override: nil)))
    }
}
