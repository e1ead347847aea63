/// A backend the file gives by DNS name (`"address": "db.example:5432"`). It is not a backend
/// itself: every address the name resolves to becomes one, named `<name>@<address>`
/// (`db@192.0.2.7`, `db@2001:db8::7`), with this entry's weight, tier, limits, agent and check
/// target. '@' is not allowed in a name written in the file, so a derived name never meets one.
public struct NamedBackendConfig: Sendable, Equatable {
    /// The entry's `name` in the file.
    public var name: String
    public var host: HostName
    public var port: UInt16
    /// The settings every resolved backend takes; its address is a placeholder.
    private var settings: BackendConfig

    public init(host: HostName, port: UInt16, settings: BackendConfig) {
        name = settings.name
        self.host = host
        self.port = port
        self.settings = settings
    }

    public var tier: Int { settings.tier }

    /// `host:port` as written for messages and status.
    public var target: String { "\(host.text):\(port)" }

    /// The backend for one resolved address.
    public func backend(at address: IPAddress) -> BackendConfig {
        var backend = settings
        backend.name = Self.derivedName(name, address)
        backend.address = Endpoint(address: address, port: port)
        return backend
    }

    public static func derivedName(_ name: String, _ address: IPAddress) -> String {
        "\(name)@\(address)"
    }

    /// The file entry a derived name came from, or nil for any other backend name.
    public static func origin(of derivedName: String) -> String? {
        derivedName.firstIndex(of: "@").map { String(derivedName[..<$0]) }
    }
}

/// When names are resolved again (`"dns"` at the top level of the file). Each name is
/// re-resolved when its records' TTL runs out, but never sooner than `minRefreshMs` (a TTL of
/// 0 must not turn into a query loop) and never later than `maxRefreshMs` (a day-long TTL must
/// not hide a failover for a day). After a failure the next attempt comes after
/// `minRefreshMs`, doubling on each further failure up to `maxRefreshMs`.
public struct DNSSettings: Sendable, Equatable {
    public var minRefreshMs: Int
    public var maxRefreshMs: Int

    public static let minRefreshRange = 100...3_600_000
    public static let maxRefreshRange = 100...86_400_000

    public init(minRefreshMs: Int = 1000, maxRefreshMs: Int = 300_000) {
        self.minRefreshMs = minRefreshMs
        self.maxRefreshMs = maxRefreshMs
    }
}
