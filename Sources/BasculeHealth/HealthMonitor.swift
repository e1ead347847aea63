import BasculeConfig
import BasculeEventLoop
import Glibc
import Logging

/// Why the monitor could not be built: a backend address or a TLS setting it cannot use.
public struct HealthMonitorError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Active health checks for every backend of every service, on one event loop (the balancer's
/// control loop). Never blocks: sockets are non-blocking and progress comes from epoll and the
/// loop's timers. Not thread-safe: create it, start it, stop it and read it on the loop's
/// thread only.
public final class HealthMonitor {
    /// `(service index, backend index, healthy, reason)`; called on the loop's thread.
    public typealias StateChangeHandler = (_ service: Int, _ backend: Int, _ healthy: Bool, _ reason: String) -> Void
    /// Told when a backend's agent changed what it says; called on the loop's thread.
    public typealias AgentChangeHandler = (_ service: Int, _ backend: Int, _ agent: AgentSnapshot) -> Void
    /// The PROXY header a check opened by the balancer itself sends (v1 UNKNOWN, v2 LOCAL);
    /// given by the caller, which owns the encoder.
    public typealias CheckProxyHeader = (ProxyProtocolVersion) -> [UInt8]

    private let loop: EventLoop
    private let log: Logger
    private let onChange: StateChangeHandler
    private let tlsContexts = TLSContextCache()
    /// Per service, per backend; probes of services with type `none` exist but never run, so
    /// `results()` has the configuration's shape.
    private var probes: [[BackendProbe]] = []
    /// Per service, per backend; nil where the backend has no agent.
    private var agents: [[AgentProbe?]] = []
    private let onAgentChange: AgentChangeHandler
    /// Shared by every probe: how many checks may start in one turn of the loop.
    let starts: CheckStartBudget

    public init(loop: EventLoop, configuration: BasculeConfiguration, log: Logger,
                checkProxyHeader: CheckProxyHeader? = nil,
                onAgentChange: @escaping AgentChangeHandler = { _, _, _ in },
                onChange: @escaping StateChangeHandler) throws {
        self.loop = loop
        self.log = log
        self.onChange = onChange
        self.onAgentChange = onAgentChange
        starts = CheckStartBudget(loop: loop)
        for (serviceIndex, service) in configuration.services.enumerated() {
            var context: OpaquePointer?
            if service.healthCheck.type == .https {
                do {
                    context = try tlsContexts.context(caFile: service.healthCheck.caFile, verify: service.healthCheck.verify)
                } catch {
                    throw HealthMonitorError(description: "service \(service.name): \(error.description)")
                }
            }
            // A backend that requires the header (the service sends it) drops a check without it.
            let preamble = service.proxyProtocol.flatMap { checkProxyHeader?($0) } ?? []
            var row: [BackendProbe] = []
            var agentRow: [AgentProbe?] = []
            for (backendIndex, backend) in service.backends.enumerated() {
                do {
                    row.append(try BackendProbe(service: serviceIndex, backend: backendIndex, serviceConfig: service,
                                                tlsContext: context, preamble: preamble, loop: loop,
                                                starts: starts) { [unowned self] probe, healthy, reason in
                        self.report(probe, healthy: healthy, reason: reason)
                    })
                    agentRow.append(try backend.agent.map { agent throws(SystemError) in
                        try AgentProbe(service: serviceIndex, backend: backendIndex, backendConfig: backend, agent: agent,
                                       loop: loop) { [unowned self] probe in self.reportAgent(probe, serviceName: service.name) }
                    })
                } catch {
                    throw HealthMonitorError(description: "service \(service.name) backend \(backend.name): \(error)")
                }
            }
            probes.append(row)
            agents.append(agentRow)
        }
    }

    deinit {
        stop()
    }

    /// Starts checking; each backend's first check falls at a random point of its first interval.
    public func start() {
        for row in probes {
            for probe in row {
                probe.start(firstCheckWithinMs: UInt64(max(1, probe.config.intervalMs)))
            }
        }
        for row in agents { for agent in row { agent?.start() } }
    }

    /// Stops every check and closes every probe socket.
    public func stop() {
        starts.stop()
        for row in probes { for probe in row { probe.stop() } }
        for row in agents { for agent in row { agent?.stop() } }
    }

    /// The passive check (or anything else) took this backend down: from now on it needs
    /// `rise` good checks before the monitor reports it up again.
    public func noteDown(service: Int, backend: Int) {
        guard probes.indices.contains(service), probes[service].indices.contains(backend) else { return }
        probes[service][backend].forceDown()
    }

    /// A value copy of every backend's check state, per service then per backend.
    public func results() -> [[CheckResultSnapshot]] {
        zip(probes, agents).map { row, agentRow in
            zip(row, agentRow).map { probe, agent in
                var result = probe.result
                result.agent = agent?.snapshot
                return result
            }
        }
    }

    private func reportAgent(_ probe: AgentProbe, serviceName: String) {
        let agent = probe.snapshot
        log.notice("\(probe.backendName) agent says \"\(agent.said)\": \(agent.word)",
                   metadata: ["service": "\(serviceName)", "backend": "\(probe.backendName)"])
        onAgentChange(probe.service, probe.backend, agent)
    }

    private func report(_ probe: BackendProbe, healthy: Bool, reason: String) {
        let metadata: Logger.Metadata = ["service": "\(probe.serviceName)", "backend": "\(probe.backendName)"]
        if healthy {
            log.notice("\(probe.backendName) up: \(reason)", metadata: metadata)
        } else {
            log.warning("\(probe.backendName) down: \(reason)", metadata: metadata)
        }
        onChange(probe.service, probe.backend, healthy, reason)
    }
}
