import BasculeAdmin
import BasculeConfig
import BasculeHealth
import BasculeProxy
import Logging

extension Balancer: AdminTarget {}

/// The running pieces of one `bascule run` (or demo): the balancer, and the admin server and
/// health checks on its control loop. Composition only; each piece lives in its library.
final class BalancerAssembly {
    let balancer: Balancer
    let admin: AdminServer
    private(set) var health: HealthMonitor?
    private let log: Logger

    init(configuration: BasculeConfiguration, configPath: String, workers: Int, log: Logger) throws {
        do {
            balancer = try Balancer(configuration: configuration, workers: workers, log: log)
            admin = try AdminServer(loop: balancer.controlLoop, config: configuration.admin, target: balancer,
                                    log: Logger(label: "bascule.admin"))
        } catch let error as StartupError {
            throw AssemblyError(description: "\(error)")
        } catch {
            throw AssemblyError(description: "\(error)")
        }
        self.log = log
        health = try Self.makeMonitor(configuration, balancer: balancer, log: log)
        let balancer = self.balancer
        balancer.configurationSource = { ConfigurationFile.load(configPath) }
        balancer.onPassiveDown = { [unowned self] service, backend in
            self.health?.noteDown(service: service, backend: backend)
        }
        // The monitor addresses backends by position, which a reload may change: build a new
        // one over the new file, told which backends the balancer already has down.
        balancer.onReload = { [unowned self] next in
            self.admin.updateToken(next.admin.token)
            self.health?.stop()
            self.health = try? Self.makeMonitor(next, balancer: self.balancer, log: self.log)
            self.health?.start()
        }
        admin.extraMetrics = [{
            var reloads = MetricFamily(name: "bascule_config_reloads_total", help: "Configuration reloads applied.", type: .counter)
            reloads.add(balancer.reloadCount)
            var failures = MetricFamily(name: "bascule_config_reload_failures_total",
                                        help: "Configuration reloads rejected (invalid file, port in use).", type: .counter)
            failures.add(balancer.reloadFailureCount)
            var pending = MetricFamily(name: "bascule_config_restart_pending",
                                       help: "1 while the applied file changes workers, accessLog or admin.listen, which only a restart applies.",
                                       type: .gauge)
            pending.add(balancer.settingsAwaitingRestart.isEmpty ? 0 : 1)
            var lastReload = MetricFamily(name: "bascule_config_last_reload_successful",
                                          help: "0 when the last reload was rejected, else 1 (also before any reload).", type: .gauge)
            lastReload.add(balancer.lastReloadSucceeded ? 1 : 0)
            var processLimit = MetricFamily(name: "bascule_max_connections",
                                            help: "The process-wide maxConnections (only when set).", type: .gauge)
            if let limit = balancer.configuration.maxConnections { processLimit.add(limit) }
            var workers = MetricFamily(name: "bascule_workers", help: "Worker threads relaying connections.", type: .gauge)
            workers.add(balancer.workerCountForMetrics)
            var draining = MetricFamily(name: "bascule_draining", help: "1 while the process drains for shutdown.", type: .gauge)
            draining.add(balancer.draining ? 1 : 0)
            var drained = MetricFamily(name: "bascule_node_drained", help: "1 while an operator has drained the whole node (POST /drain).", type: .gauge)
            drained.add(balancer.nodeDrained ? 1 : 0)
            return reloads.rendered + failures.rendered + lastReload.rendered + pending.rendered
                + (processLimit.hasSamples ? processLimit.rendered : "")
                + workers.rendered + draining.rendered + drained.rendered
        }, { [unowned self] in
            HealthMetrics.render(self.health?.results() ?? [])
        }, {
            var connect = MetricFamily(name: "bascule_connect_duration_seconds",
                                       help: "Time from accepting a client to its backend connection being established.", type: .histogram)
            var duration = MetricFamily(name: "bascule_connection_duration_seconds",
                                        help: "Lifetime of client connections, accept to close.", type: .histogram)
            for service in balancer.connectionHistograms() {
                for (family, snapshot) in [(0, service.connect), (1, service.duration)] {
                    let buckets = zip(snapshot.boundsSeconds, snapshot.cumulative).map { (le: $0, count: $1) }
                    if family == 0 {
                        connect.addHistogram([("service", service.service)], buckets: buckets, sum: snapshot.sumSeconds, count: snapshot.count)
                    } else {
                        duration.addHistogram([("service", service.service)], buckets: buckets, sum: snapshot.sumSeconds, count: snapshot.count)
                    }
                }
            }
            var text = connect.rendered + duration.rendered
            if let accessLog = balancer.accessLog {
                var written = MetricFamily(name: "bascule_access_log_lines_total", help: "Access-log lines written.", type: .counter)
                written.add(accessLog.writtenLines.load(ordering: .relaxed))
                var dropped = MetricFamily(name: "bascule_access_log_dropped_lines_total",
                                           help: "Access-log lines dropped because the writer fell behind or a write failed.", type: .counter)
                dropped.add(accessLog.droppedLines.load(ordering: .relaxed))
                text += written.rendered + dropped.rendered
            }
            return text
        }]
        admin.extraStatus = [
            (key: "healthChecks", value: { [unowned self] in HealthMetrics.status(self.health?.results() ?? []) }),
            (key: "settingsAwaitingRestart", value: { .array(balancer.settingsAwaitingRestart.map { .string($0) }) }),
        ]
    }

    private static func makeMonitor(_ configuration: BasculeConfiguration, balancer: Balancer, log: Logger) throws -> HealthMonitor {
        let monitor: HealthMonitor
        do {
            monitor = try HealthMonitor(loop: balancer.controlLoop, configuration: configuration,
                                        log: Logger(label: "bascule.health")) { [unowned balancer] service, backend, healthy, reason in
                balancer.setHealth(service: service, backend: backend, healthy: healthy, reason: reason)
            }
        } catch {
            throw AssemblyError(description: "\(error)")
        }
        for (service, config) in configuration.services.enumerated() {
            for backend in config.backends.indices where !balancer.isHealthy(service: service, backend: backend) {
                monitor.noteDown(service: service, backend: backend)
            }
        }
        return monitor
    }

    func run(onReady: @escaping () -> Void) throws {
        health?.start()
        balancer.onReady = onReady
        do {
            try balancer.run()
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
