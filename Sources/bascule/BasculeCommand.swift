import ArgumentParser
import BasculeConfig

@main
struct BasculeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bascule",
        abstract: "A Layer-4 TCP load balancer: highly available pools of servers behind one address.",
        discussion: """
            Start with `bascule demo` to see a pool of local backends behind the balancer, \
            `bascule check --config FILE` to validate a configuration, and \
            `bascule run --config FILE` in production.
            """,
        version: BasculeVersion.string,
        subcommands: [RunCommand.self, UpgradeCommand.self, CheckCommand.self, DemoCommand.self, CtlCommand.self, BackendSubcommand.self,
                      DecapCommand.self]
    )
}
