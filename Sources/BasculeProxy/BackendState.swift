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
    var lastChangeReason = "initial state"
    var lastChangeAtMs: UInt64 = 0

    var isEligible: Bool { healthy && admin == .enabled }
}

/// A point-in-time view of one backend for /status, /metrics and the dashboard.
public struct BackendStatus: Sendable {
    public let name: String
    public let address: String
    public let backup: Bool
    public let healthy: Bool
    public let admin: AdminState
    public let weight: Int
    public let effectiveWeight: Int
    /// "up", "down", "draining" or "disabled": what an operator reads first.
    public let state: String
    public let activeConnections: Int
    public let totalConnections: Int
    public let connectFailures: Int
    public let lastChangeReason: String
    public let secondsSinceLastChange: Double
}

public struct ServiceStatus: Sendable {
    public let name: String
    public let listen: String
    public let strategy: String
    public let backends: [BackendStatus]

    /// True when at least one backend would be picked for a new connection.
    public var hasEligibleBackend: Bool { backends.contains { $0.state == "up" } }
}
