import BasculeConfig
import BasculeProxy

/// The /status document: every service and every field of every backend, the same names the
/// dashboard and `bascule ctl` read.
enum StatusJSON {
    static func services(_ services: [ServiceStatus]) -> JSONValue {
        .array(services.map(service))
    }

    static func service(_ service: ServiceStatus) -> JSONValue {
        .object([
            ("name", .string(service.name)),
            ("listen", .string(service.listen)),
            ("strategy", .string(service.strategy)),
            ("ready", .bool(service.hasEligibleBackend)),
            ("activeConnections", .int(service.activeConnections)),
            ("totalConnections", .int(service.backends.reduce(0) { $0 + $1.totalConnections })),
            ("connectionsAccepted", .int(service.connectionsAccepted)),
            ("connectionsFailed", .int(service.connectionsFailed)),
            ("connectionsDenied", .int(service.connectionsDenied)),
            ("connectionsRefused", .int(service.connectionsRefused)),
            ("proxyHeadersRejected", .int(service.proxyHeadersRejected)),
            ("untrustedProxies", .int(service.untrustedProxies)),
            ("retries", .int(service.retries)),
            ("clientConnectionsTimedOut", .int(service.clientTimedOut)),
            ("activeTier", service.activeTier.map { .int($0) } ?? .null),
            ("bytesIn", .int(Int(clamping: service.backends.reduce(0) { $0 &+ $1.bytesIn }))),
            ("bytesOut", .int(Int(clamping: service.backends.reduce(0) { $0 &+ $1.bytesOut }))),
            ("backends", .array(service.backends.map(backend))),
            ("removedAtRuntime", .array(service.removedAtRuntime.map { .string($0) })),
        ])
    }

    static func backend(_ backend: BackendStatus) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("name", .string(backend.name)),
            ("address", .string(backend.address)),
            ("backup", .bool(backend.backup)),
            ("tier", .int(backend.tier)),
            ("state", .string(backend.state)),
            ("healthy", .bool(backend.healthy)),
            ("admin", .string(backend.admin.rawValue)),
            ("weight", .int(backend.weight)),
            ("effectiveWeight", .int(backend.effectiveWeight)),
            ("activeConnections", .int(backend.activeConnections)),
            ("totalConnections", .int(backend.totalConnections)),
            ("connectFailures", .int(backend.connectFailures)),
            ("connectFailuresByReason", .object(backend.connectFailuresByReason.map { ($0.reason.rawValue, .int($0.count)) })),
            ("bytesIn", .int(Int(clamping: backend.bytesIn))),
            ("bytesOut", .int(Int(clamping: backend.bytesOut))),
            ("lastChangeReason", .string(backend.lastChangeReason)),
            ("secondsSinceLastChange", .double(backend.secondsSinceLastChange)),
            ("downTransitions", .int(backend.downTransitions)),
            ("downtimeSeconds", .double(backend.downtimeSeconds)),
            ("origin", .string(backend.origin)),
            ("connectionsResetOnDown", .int(backend.resetOnDown)),
            ("connectionsResetOnFailback", .int(backend.resetOnFailback)),
            ("connectionsTimedOut", .int(backend.timedOut)),
        ]
        if let resolved = backend.resolvedFrom {
            members.append(("resolvedFrom", .object([("backend", .string(resolved.backend)), ("name", .string(resolved.target))])))
        }
        if let removal = backend.removalInSeconds {
            members.append(("pendingRemoval", .bool(true)))
            members.append(("removalInSeconds", .double(removal)))
        }
        if let agent = backend.agent {
            members.append(("agent", .object([
                ("word", .string(agent.word)), ("effect", .string(agent.effect.rawValue)),
                ("weightPercent", .int(agent.weightPercent)), ("said", .string(agent.said)),
            ])))
        }
        return .object(members)
    }
}
