import BasculeConfig

/// What an operator has asked of a backend (runtime API), independent of its health.
public enum AdminState: String, Sendable, Equatable {
    /// Takes new connections when healthy.
    case enabled
    /// Takes no new connections; open ones run to completion.
    case draining
    /// Takes no new connections (open ones are left alone too; the operator decides).
    case disabled
}

/// The state the control thread keeps for one backend. Health checks and the runtime API
/// change it; every change rebuilds the service's table for the workers.
struct BackendState {
    var healthy = true
    var admin = AdminState.enabled
    var weight: Int
    /// When the backend last became eligible, for slow start.
    var eligibleSinceMs: UInt64 = 0
    /// Whether it was eligible after the previous change, so a change can tell that it has
    /// just become eligible (and starts its slow start) without looking through the table.
    var wasEligible = true
    var lastChangeReason = "initial state"
    var lastChangeAtMs: UInt64 = 0
    /// Health transitions, and the time spent unhealthy before the current state (the
    /// ongoing outage, if any, is added when read), for availability over any window.
    var downTransitions = 0
    var upTransitions = 0
    var downtimeMs: UInt64 = 0
    var downSinceMs: UInt64 = 0
    /// What the backend's agent says; nil without an agent.
    var agent: AgentVerdict?

    var isEligible: Bool { healthy && admin == .enabled && (agent?.allowsNewConnections ?? true) }
}

/// A point-in-time view of one backend for /status, /metrics and the dashboard.
public struct BackendStatus: Sendable {
    public var name: String
    public var address: String
    public var backup: Bool
    public var healthy: Bool
    public var admin: AdminState
    public var weight: Int
    public var effectiveWeight: Int
    /// "up", "down", "draining" or "disabled": what an operator reads first.
    public var state: String
    public var activeConnections: Int
    public var totalConnections: Int
    public var connectFailures: Int
    /// The same failures by reason, every reason present (zeros included), in
    /// `ConnectErrorReason.allCases` order.
    public var connectFailuresByReason: [(reason: ConnectErrorReason, count: Int)] = []
    /// Bytes relayed from clients to this backend, and from it back to clients.
    public var bytesIn: UInt64
    public var bytesOut: UInt64
    public var lastChangeReason: String
    public var secondsSinceLastChange: Double
    /// The same moment as Unix time, for `_timestamp_seconds` gauges.
    public var lastChangeTimestamp: Double = 0
    /// Times marked down and back up by health checks (active or passive).
    public var downTransitions = 0
    public var upTransitions = 0
    /// Seconds spent down (unhealthy) since the process started, the current outage included.
    public var downtimeSeconds: Double = 0
    /// The backend's `maxConnections`, when set.
    public var maxConnections: Int?
    /// What the backend's agent says, when it has one.
    public var agent: AgentVerdict?
    /// "file", "runtime" for a backend added through the admin API, "dns" for one address of a
    /// backend the file gives by DNS name.
    public var origin = "file"
    /// For origin "dns": the file's entry and the name it resolved.
    public var resolvedFrom: ResolvedFrom?
    /// Set while the backend drains before its removal at runtime: seconds left before it is
    /// removed even with connections open.
    public var removalInSeconds: Double?
    /// 0 primary, 1 backup, higher for later tiers.
    public var tier = 0
    /// Open connections reset when the backend was marked down, or by failback; connections
    /// ended because its host stopped answering (keepalive, user timeout).
    public var resetOnDown = 0
    public var resetOnFailback = 0
    public var timedOut = 0

    public init(name: String, address: String, backup: Bool = false, healthy: Bool = true,
                admin: AdminState = .enabled, weight: Int = 1, effectiveWeight: Int = 1, state: String = "up",
                activeConnections: Int = 0, totalConnections: Int = 0, connectFailures: Int = 0,
                bytesIn: UInt64 = 0, bytesOut: UInt64 = 0, lastChangeReason: String = "initial state",
                secondsSinceLastChange: Double = 0) {
        self.name = name
        self.address = address
        self.backup = backup
        self.healthy = healthy
        self.admin = admin
        self.weight = weight
        self.effectiveWeight = effectiveWeight
        self.state = state
        self.activeConnections = activeConnections
        self.totalConnections = totalConnections
        self.connectFailures = connectFailures
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.lastChangeReason = lastChangeReason
        self.secondsSinceLastChange = secondsSinceLastChange
    }
}

public struct ServiceStatus: Sendable {
    public var name: String
    public var listen: String
    public var strategy: String
    /// Client connections accepted, and those closed without reaching any backend (no
    /// eligible backend, or every connect attempt failed).
    public var connectionsAccepted: Int
    public var connectionsFailed: Int
    /// Closed at accept by allow/deny; refused by a connection limit; dropped for a bad PROXY header.
    public var connectionsDenied: Int = 0
    public var connectionsRefused: Int = 0
    public var proxyHeadersRejected: Int = 0
    /// Closed at accept: the peer is not one of `trustedProxies`.
    public var untrustedProxies: Int = 0
    /// Connects tried again after a failed one.
    public var retries: Int = 0
    /// The service's configured limits, when set.
    public var maxConnections: Int?
    public var maxConnectionsPerClient: Int?
    /// Connections ended because the client's host stopped answering keepalive probes.
    public var clientTimedOut = 0
    /// The tier new connections go to (nil: no backend available).
    public var activeTier: Int?
    public var backends: [BackendStatus]
    /// Backends of the file removed through the admin API (until the next reload).
    public var removedAtRuntime: [String] = []
    /// The service's `backendMetrics`: false when /metrics carries no series per backend.
    public var backendMetrics = true

    public init(name: String, listen: String, strategy: String, connectionsAccepted: Int = 0,
                connectionsFailed: Int = 0, backends: [BackendStatus]) {
        self.name = name
        self.listen = listen
        self.strategy = strategy
        self.connectionsAccepted = connectionsAccepted
        self.connectionsFailed = connectionsFailed
        self.backends = backends
    }

    /// True when at least one backend would be picked for a new connection.
    public var hasEligibleBackend: Bool { backends.contains { $0.state == "up" } }

    public var activeConnections: Int { backends.reduce(0) { $0 + $1.activeConnections } }
}
