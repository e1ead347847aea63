/// The decoded, validated contents of config.json. Every value here has passed validation:
/// code that receives a `BasculeConfiguration` never meets an invalid one.
public struct BasculeConfiguration: Sendable, Equatable {
    /// Worker threads; 0 in the file means one per core and is resolved by the CLI.
    public var workers: Int
    public var admin: AdminConfig
    public var defaults: Defaults
    public var services: [ServiceConfig]
    /// Client connections the whole process holds at most; past it new clients are refused.
    public var maxConnections: Int?
    /// Where one JSON line per finished connection goes: a file path, or "-" for standard
    /// output; nil: no access log.
    public var accessLog: String?
    /// After SIGTERM, how long listeners keep accepting while `/readyz` already answers 503,
    /// so keepalived or the BGP speaker can move the address before anyone is refused.
    public var drainGraceMs: Int = 0
    /// How long and how much a listener that routes by `serverNames` waits for a ClientHello.
    public var clientHello = ClientHelloSettings()
    /// How often backends given by DNS name are resolved again.
    public var dns = DNSSettings()

    public init(workers: Int = 0, admin: AdminConfig = AdminConfig(), defaults: Defaults = Defaults(),
                services: [ServiceConfig] = []) {
        self.workers = workers
        self.admin = admin
        self.defaults = defaults
        self.services = services
    }
}

public struct AdminConfig: Sendable, Equatable {
    public var listen: Endpoint
    /// Empty: no token; mutating endpoints then accept loopback callers only.
    public var token: String

    public init(listen: Endpoint = Endpoint(host: "127.0.0.1", port: 9000), token: String = "") {
        self.listen = listen
        self.token = token
    }
}

/// Bounds on reading a TLS ClientHello on an address whose services route by `serverNames`:
/// a client that has not sent a whole ClientHello within `timeoutMs`, or whose ClientHello
/// (TLS record headers included) would exceed `maxBytes`, is refused.
public struct ClientHelloSettings: Sendable, Equatable {
    public var timeoutMs: Int
    public var maxBytes: Int

    public static let maxBytesRange = 512...65536

    public init(timeoutMs: Int = 5000, maxBytes: Int = 16384) {
        self.timeoutMs = timeoutMs
        self.maxBytes = maxBytes
    }
}

public struct Defaults: Sendable, Equatable {
    public var connectTimeoutMs: Int
    public var idleTimeoutMs: Int
    public var retries: Int
    public var drainTimeoutMs: Int
    /// TCP keepalive on both sides of every connection, so a peer whose host vanished is found
    /// without any check: idle time before the first probe, time between probes, and how many
    /// unanswered probes end the connection. 0 idle seconds: no keepalive.
    public var keepAliveIdleSeconds: Int
    public var keepAliveIntervalSeconds: Int
    public var keepAliveCount: Int
    /// TCP_USER_TIMEOUT on backend sockets: how long sent data (or a keepalive probe) may go
    /// unacknowledged before the connection is dropped. nil: the keepalive bound
    /// (`idle + interval × count`), so both sides give up at the same time. 0: off.
    public var backendUserTimeoutMs: Int?

    public init(connectTimeoutMs: Int = 2000, idleTimeoutMs: Int = 300_000, retries: Int = 2,
                drainTimeoutMs: Int = 30_000, keepAliveIdleSeconds: Int = 60, keepAliveIntervalSeconds: Int = 10,
                keepAliveCount: Int = 6, backendUserTimeoutMs: Int? = nil) {
        self.connectTimeoutMs = connectTimeoutMs
        self.idleTimeoutMs = idleTimeoutMs
        self.retries = retries
        self.drainTimeoutMs = drainTimeoutMs
        self.keepAliveIdleSeconds = keepAliveIdleSeconds
        self.keepAliveIntervalSeconds = keepAliveIntervalSeconds
        self.keepAliveCount = keepAliveCount
        self.backendUserTimeoutMs = backendUserTimeoutMs
    }

    /// The settings as the sockets take them.
    public var keepAlive: KeepAliveSettings {
        KeepAliveSettings(idleSeconds: keepAliveIdleSeconds, intervalSeconds: keepAliveIntervalSeconds,
                          count: keepAliveCount, backendUserTimeoutMs: backendUserTimeoutMs)
    }
}

/// Dead-peer detection for one service, resolved: what the listener and each backend socket
/// are given.
public struct KeepAliveSettings: Sendable, Equatable {
    public var idleSeconds: Int
    public var intervalSeconds: Int
    public var count: Int
    /// As configured; see `effectiveUserTimeoutMs`.
    public var backendUserTimeoutMs: Int?

    public init(idleSeconds: Int = 60, intervalSeconds: Int = 10, count: Int = 6, backendUserTimeoutMs: Int? = nil) {
        self.idleSeconds = idleSeconds
        self.intervalSeconds = intervalSeconds
        self.count = count
        self.backendUserTimeoutMs = backendUserTimeoutMs
    }

    public var isEnabled: Bool { idleSeconds > 0 }

    /// Seconds from the last byte received to the connection's end when the peer's host is
    /// gone and nothing is in flight: the documented bound on the client side.
    public var boundSeconds: Int { idleSeconds + intervalSeconds * count }

    /// The backend socket's TCP_USER_TIMEOUT in ms (0: none).
    public var effectiveUserTimeoutMs: Int {
        backendUserTimeoutMs ?? (isEnabled ? boundSeconds * 1000 : 0)
    }
}

/// What happens to a backend's open connections when it is marked down.
public enum OnBackendDown: String, Sendable, Equatable {
    /// Both sides are reset at once, so clients reconnect (to a survivor) without waiting.
    case reset
    /// They run on until they end, fail, or time out (HAProxy's and IPVS's default).
    case keep
}

public enum Affinity: String, Sendable, Equatable {
    case none, single, network
}

public enum ProxyProtocolVersion: String, Sendable, Equatable {
    case v1, v2
}

public struct ServiceConfig: Sendable, Equatable {
    public var name: String
    public var listen: Endpoint
    public var strategy: String
    /// Only meaningful for hashing strategies; `.single` is the default for `source-hash`.
    public var affinity: Affinity
    public var healthCheck: HealthCheckConfig
    public var backends: [BackendConfig]
    /// Backends given by DNS name; what they resolve to is laid over `backends` by the
    /// running process (see `NamedBackendConfig`).
    public var namedBackends: [NamedBackendConfig] = []
    /// Service-level overrides of `defaults`, already resolved (default applied when unset).
    public var connectTimeoutMs: Int
    public var idleTimeoutMs: Int
    public var retries: Int
    public var drainTimeoutMs: Int
    public var maxConnections: Int?
    /// Connections one client address may hold on this service at once.
    public var maxConnectionsPerClient: Int?
    public var proxyProtocol: ProxyProtocolVersion?
    public var acceptProxyProtocol: Bool
    /// Peers allowed to send a PROXY header (`acceptProxyProtocol`); empty: any peer.
    public var trustedProxies: [CIDRBlock] = []
    /// Parsed at load; a bare address in the file is a /32 or /128 block.
    public var allow: [CIDRBlock]
    public var deny: [CIDRBlock]
    public var slowStartMs: Int
    public var keepAlive: KeepAliveSettings
    public var onBackendDown: OnBackendDown = .reset
    /// When a lower tier becomes eligible again, connections held by higher tiers are reset
    /// so clients come back to the primary.
    public var failback = false
    /// False: /metrics has this service's aggregates but no series per backend (for pools of
    /// thousands, where per-backend series are most of the page and of the scrape's cost).
    public var backendMetrics = true
    /// Names (lowercase; exact or `*.` wildcards of one label) whose TLS ClientHellos this
    /// service takes on a listen address it may share with other services. Empty: the
    /// service takes its address's whole traffic, or is the default route of a shared one.
    public var serverNames: [String] = []
    /// With `serverNames`: only ClientHellos offering one of these ALPN protocols.
    public var alpn: [String] = []
    /// The default route of a shared address: connections that do not start with a TLS
    /// handshake come here instead of being refused.
    public var acceptNonTLS = false
    /// Set when the kernel data plane carries this service (`"dataPlane": "xdp"`); nil: the proxy.
    public var xdp: XDPSettings?

    /// Whether the service is reached by the name in a ClientHello.
    public var routesByServerName: Bool { !serverNames.isEmpty }

    public init(name: String, listen: Endpoint, strategy: String = "round-robin",
                affinity: Affinity = .none, healthCheck: HealthCheckConfig = HealthCheckConfig(),
                backends: [BackendConfig], defaults: Defaults = Defaults(),
                maxConnections: Int? = nil, proxyProtocol: ProxyProtocolVersion? = nil,
                acceptProxyProtocol: Bool = false, allow: [CIDRBlock] = [], deny: [CIDRBlock] = [],
                slowStartMs: Int = 0) {
        self.name = name
        self.listen = listen
        self.strategy = strategy
        self.affinity = affinity
        self.healthCheck = healthCheck
        self.backends = backends
        self.connectTimeoutMs = defaults.connectTimeoutMs
        self.idleTimeoutMs = defaults.idleTimeoutMs
        self.retries = defaults.retries
        self.drainTimeoutMs = defaults.drainTimeoutMs
        self.keepAlive = defaults.keepAlive
        self.maxConnections = maxConnections
        self.proxyProtocol = proxyProtocol
        self.acceptProxyProtocol = acceptProxyProtocol
        self.allow = allow
        self.deny = deny
        self.slowStartMs = slowStartMs
    }
}

public struct BackendConfig: Sendable, Equatable {
    public var name: String
    public var address: Endpoint
    public var weight: Int
    /// 0 for a primary; traffic goes to the lowest tier that has an eligible backend.
    public var tier: Int
    public var maxConnections: Int?
    /// Where the backend's own agent answers (HAProxy agent-check vocabulary); nil: no agent.
    public var agent: AgentCheckConfig?
    /// This backend's own check target (`backends[].healthCheck.port` / `.address`), over
    /// the service's: HAProxy's per-server `port` / `addr`, e.g. a probe port per node.
    public var checkPort: UInt16?
    public var checkAddress: String?

    public init(name: String, address: Endpoint, weight: Int = 1, backup: Bool = false,
                maxConnections: Int? = nil, agent: AgentCheckConfig? = nil, tier: Int? = nil) {
        self.name = name
        self.address = address
        self.weight = weight
        self.tier = tier ?? (backup ? 1 : 0)
        self.maxConnections = maxConnections
        self.agent = agent
    }

    /// `"backup": true` is tier 1.
    public var backup: Bool {
        get { tier > 0 }
        set { tier = newValue ? max(1, tier) : 0 }
    }
}

public enum HealthCheckType: String, Sendable, Equatable {
    case tcp, http, https, none
}

public struct HealthCheckConfig: Sendable, Equatable {
    public var type: HealthCheckType
    public var path: String
    public var expectStatus: [Int]
    /// Substring the response body must contain, when set.
    public var expectBody: String?
    public var intervalMs: Int
    public var timeoutMs: Int
    public var rise: Int
    public var fall: Int
    /// HTTPS only: verify the backend certificate (on by default).
    public var verify: Bool
    public var caFile: String?
    /// HTTPS only: SNI and Host header; defaults to the backend's host.
    public var serverName: String?
    /// Where checks connect when not the traffic address: a listener-style probe port
    /// (an availability-group probe on 59999 while traffic goes to 1433), another host.
    public var port: UInt16?
    public var address: String?
    /// TCP only: what to send and what to expect, in order; empty means connect only.
    public var steps: [TCPCheckStep] = []

    public init(type: HealthCheckType = .tcp, path: String = "/", expectStatus: [Int] = [200],
                expectBody: String? = nil, intervalMs: Int = 2000, timeoutMs: Int = 1000,
                rise: Int = 2, fall: Int = 3, verify: Bool = true, caFile: String? = nil,
                serverName: String? = nil) {
        self.type = type
        self.path = path
        self.expectStatus = expectStatus
        self.expectBody = expectBody
        self.intervalMs = intervalMs
        self.timeoutMs = timeoutMs
        self.rise = rise
        self.fall = fall
        self.verify = verify
        self.caFile = caFile
        self.serverName = serverName
    }
}

extension HealthCheckConfig {
    /// Where this check connects for `backend`: its own override, else the service's, else
    /// the traffic address.
    public func target(for backend: BackendConfig) -> Endpoint {
        Endpoint(host: backend.checkAddress ?? address ?? backend.address.host,
                 port: backend.checkPort ?? port ?? backend.address.port)
    }
}

/// One step of a TCP send/expect check. Bytes are what goes on the wire: `send` text is
/// sent as UTF-8, `sendHex` decoded at load.
public struct TCPCheckStep: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case send([UInt8])
        /// The bytes received since the previous expectation must contain these.
        case expectSubstring(String)
        /// ... or match this regular expression (validated at load).
        case expectRegex(String)
    }

    public var action: Action
    /// How long this step may wait for the socket (to accept a send, or for the expected
    /// bytes); the check's `timeoutMs` still bounds the whole attempt.
    public var timeoutMs: Int

    public init(_ action: Action, timeoutMs: Int) {
        self.action = action
        self.timeoutMs = timeoutMs
    }
}

/// The backend's agent: a TCP port that answers one line such as `up`, `drain`, `75%`.
public struct AgentCheckConfig: Sendable, Equatable {
    public var port: UInt16
    /// Host of the agent when not the backend's own (an IP literal).
    public var address: String?
    public var intervalMs: Int
    public var timeoutMs: Int

    public init(port: UInt16, address: String? = nil, intervalMs: Int = 2000, timeoutMs: Int = 1000) {
        self.port = port
        self.address = address
        self.intervalMs = intervalMs
        self.timeoutMs = timeoutMs
    }

    public func target(for traffic: Endpoint) -> Endpoint {
        Endpoint(host: address ?? traffic.host, port: port)
    }
}

/// An IP literal and a port, as written in `listen`/`address` ("127.0.0.1:8081",
/// "[::1]:8081"), with the address already parsed to bytes. Config knows nothing of
/// sockets; the socket floor builds its `SocketAddress` from `address.bytes` and `port`.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// The address without brackets, as written ("::1" for "[::1]:8081").
    public let host: String
    public let address: IPAddress
    public let port: UInt16

    public init(address: IPAddress, host: String? = nil, port: UInt16) {
        self.host = host ?? address.description
        self.address = address
        self.port = port
    }

    /// For literals in code and tests ("127.0.0.1", "::1"): anything else is a programming
    /// error. Text from a user goes through `Endpoint(parsing:)` or config validation.
    public init(host: String, port: UInt16) {
        guard let address = IPAddress(host) else { preconditionFailure("\(host) is not an IP literal") }
        self.init(address: address, host: host, port: port)
    }

    public var isIPv6: Bool { address.isIPv6 }

    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
