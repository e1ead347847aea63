import ArgumentParser
import BasculeBackendService

/// `bascule backend …`: the backend service from the same binary, so `swift run bascule demo`
/// works even when only the `bascule` product was built.
struct BackendSubcommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backend",
        abstract: "Run the minimal backend service (same as bascule-backend)."
    )

    @OptionGroup var options: BackendCommand

    func run() throws {
        try options.run()
    }
}
