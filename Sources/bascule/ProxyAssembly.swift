import BasculeAdmin
import BasculeConfig
import BasculeEventLoop
import BasculeHealth
import BasculeProxy
import BasculeXDP
import Logging

/// The running pieces of one `bascule run` (or demo): the proxy, and the admin server and
/// health checks on its control loop. Composition only; each piece lives in its library.
final class ProxyAssembly {
    let controller: ProxyController
    let admin: AdminServer
    private(set) var health: HealthMonitor?
    /// The XDP program of the `"dataPlane": "xdp"` services; nil when there are none.
    private(set) var kernelDataPlane: XDPDataPlane?
    private let log: Logger

    /// `inherited`: the sockets of the process this one takes over (`bascule run --takeover`).
    init(configuration: BasculeConfiguration, configPath: String, workers: Int, log: Logger,
         inherited: InheritedListeners? = nil) throws {
        do {
            controller = try ProxyController(configuration: configuration, workers: workers, log: log, inherited: inherited)
            admin = try AdminServer(loop: controller.controlLoop, config: configuration.admin,
                                    target: ProxyAdminTarget(controller), log: Logger(label: "bascule.admin"),
                                    inheritedListener: inherited?.takeAdmin(configuration.admin.listen))
        } catch {
            throw AssemblyError(description: "\(error)")
        }
        self.log = log
        // A handover passes the admin socket with the service sockets; when the successor
        // takes it, this process stops answering there, so /readyz is always the serving one's.
        controller.adminListener = { [unowned self] in (configuration.admin.listen, self.admin.listenDescriptor) }
        controller.onHandedOver = { [unowned self] adminTaken in
            if adminTaken { self.admin.close() }
        }
        health = try Self.makeMonitor(configuration, registry: controller.registry, loop: controller.controlLoop, log: log)
        controller.reload.configurationSource = { ConfigurationFile.load(configPath) }
        controller.registry.onPassiveDown = { [unowned self] service, backend in
            self.health?.noteDown(service: service, backend: backend)
        }
        // The monitor addresses backends by position, which a reload may change: build a new
        // one over the new file, told which backends the registry already has down.
        controller.reload.onReload = { [unowned self] next in
            self.admin.updateToken(next.admin.token)
            self.health?.stop()
            self.health = nil
            self.health = try Self.makeMonitor(next, registry: self.controller.registry, loop: self.controller.controlLoop, log: self.log)
            self.health?.start()
        }
        // After onReload is set: the first answers rebuild the health checks over the resolved backends.
        do {
            try controller.reload.startResolvingNames()
        } catch {
            throw AssemblyError(description: "cannot start the DNS resolver thread: \(error)")
        }
        ProxyMetrics.expose(controller, on: admin) { [unowned self] in self.health?.results() ?? [] }
        kernelDataPlane = try KernelDataPlaneStart.start(configuration, controller: controller, admin: admin, log: log)
    }

    private static func makeMonitor(_ configuration: BasculeConfiguration, registry: BackendRegistry,
                                    loop: EventLoop, log: Logger) throws -> HealthMonitor {
        let monitor: HealthMonitor
        do {
            monitor = try HealthMonitor(loop: loop, configuration: configuration,
                                        log: Logger(label: "bascule.health"), checkProxyHeader: CheckProxyHeader.bytes,
                                        onAgentChange: { [unowned registry] service, backend, agent in
                                            registry.setAgent(service: service, backend: backend, AgentVerdict(agent))
                                        }) { [unowned registry] service, backend, healthy, reason in
                registry.setHealth(service: service, backend: backend, healthy: healthy, reason: reason)
            }
        } catch {
            throw AssemblyError(description: "\(error)")
        }
        for (service, config) in configuration.services.enumerated() {
            for backend in config.backends.indices where !registry.isHealthy(service: service, backend: backend) {
                monitor.noteDown(service: service, backend: backend)
            }
        }
        return monitor
    }

    func run(onReady: @escaping () -> Void) throws {
        // Packets go back to the stack when Bascule stops, however it stops short of a crash;
        // after a crash the next start replaces the stale program.
        defer { kernelDataPlane?.detach() }
        health?.start()
        controller.onReady = onReady
        do {
            try controller.run()
        } catch let error as StartupError {
            throw AssemblyError(description: "\(error)")
        }
        health?.stop()
        admin.close()
    }
}

struct AssemblyError: Error, CustomStringConvertible {
    let description: String
}
