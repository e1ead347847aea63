/// One problem in a config file, located by its JSON path (`services[1].backends[0].address`,
/// `$` for the whole document) so an operator can find it without a line number.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// Every problem found in a config file, in file order. Validation never stops at the first
/// one: fixing a file one error per run is the experience this avoids.
public struct ConfigErrors: Error, Equatable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) {
        self.errors = errors
    }

    /// One error per line, ready for `bascule check` to print.
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
