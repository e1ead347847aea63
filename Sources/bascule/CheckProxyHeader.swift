import BasculeConfig
import BasculeHealth
import BasculeProxy

/// The PROXY header a health check sends when its service sends one to backends: the
/// proxy's own encoder, handed to the checker (which does not depend on the proxy). A check
/// relays no client, so it says so as HAProxy's checks do: v1 `PROXY UNKNOWN`, v2 LOCAL.
enum CheckProxyHeader {
    static func bytes(_ version: ProxyProtocolVersion) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: ProxyProtocolEncoder.maximumV1Length)
        let count = buffer.withUnsafeMutableBytes { room in
            switch version {
            case .v1: ProxyProtocolEncoder.v1Unknown(into: room)
            case .v2: ProxyProtocolEncoder.v2Local(into: room)
            }
        }
        return Array(buffer[..<count])
    }
}

extension AgentVerdict {
    /// The balancer's reading of what the checker heard from the agent.
    init(_ agent: AgentSnapshot) {
        let effect: Effect
        switch (agent.operational, agent.administrative) {
        case (.down, _): effect = .down
        case (.up, .maint): effect = .maint
        case (.up, .drain): effect = .drain
        case (.up, .ready): effect = .ready
        }
        self.init(effect: effect, weightPercent: agent.weightPercent, word: agent.word, said: agent.said)
    }
}
