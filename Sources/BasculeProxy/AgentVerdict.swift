import BasculeBalancing

/// What a backend's agent says, as the balancer applies it (HAProxy's agent-check rules): it
/// can keep new connections away or scale the configured weight, never make a backend that
/// fails its health check eligible. Open connections are left alone: `drain` lets them finish.
public struct AgentVerdict: Sendable, Equatable {
    public enum Effect: String, Sendable {
        /// New connections as the health check and the operator allow.
        case ready
        /// No new connections; open ones continue.
        case drain
        /// Out for maintenance: no new connections.
        case maint
        /// The backend says it is down: out, whatever its health check says.
        case down
    }

    public var effect: Effect
    /// Share of the configured weight; 0 takes no new connections, like `drain`.
    public var weightPercent: Int
    /// The one word an operator reads ("drain", "50%", "up") and the agent's last line.
    public var word: String
    public var said: String

    public init(effect: Effect = .ready, weightPercent: Int = 100, word: String = "up", said: String = "") {
        self.effect = effect
        self.weightPercent = weightPercent
        self.word = word
        self.said = said
    }

    var allowsNewConnections: Bool { effect == .ready && weightPercent > 0 }
}

extension BackendRegistry {
    /// A backend's agent changed what it says (service and backend are positions in the configuration).
    public func setAgent(service: Int, backend: Int, _ verdict: AgentVerdict) {
        guard services.indices.contains(service), services[service].states.indices.contains(backend),
              services[service].config.backends[backend].agent != nil,
              services[service].states[backend].agent != verdict else { return }
        services[service].states[backend].agent = verdict
        noteChange(services[service], backend: backend, reason: "agent says \"\(verdict.said)\"")
    }

    /// The weights the service's table is built with. While some agent asks for a share of
    /// its weight, every weight is counted in percent (then divided by their common divisor),
    /// so 50% of weight 1 still halves that backend's share.
    static func tableWeights(_ states: [BackendState], slowStartMs: Int, nowMs: UInt64) -> [Int] {
        let weights = states.map { effectiveWeight($0, slowStartMs: slowStartMs, nowMs: nowMs) }
        guard states.contains(where: { ($0.agent?.weightPercent ?? 100) != 100 }) else { return weights }
        let scaled = zip(weights, states).map { weight, state in weight * max(1, state.agent?.weightPercent ?? 100) }
        let divisor = scaled.reduce(0) { gcd($0, $1) }
        return scaled.map { $0 / max(1, divisor) }
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int {
        b == 0 ? a : gcd(b, a % b)
    }
}
