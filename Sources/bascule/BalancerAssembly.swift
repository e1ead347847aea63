import BasculeAdmin
import BasculeConfig
import BasculeProxy
import Logging

extension Balancer: AdminTarget {}

/// The running pieces of one `bascule run` (or demo): the balancer, and the admin server and
/// health checks on its control loop. Composition only; each piece lives in its library.
final class BalancerAssembly {
    let balancer: Balancer
    let admin: AdminServer

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
        let balancer = self.balancer
        balancer.configurationSource = { ConfigurationFile.load(configPath) }
        admin.extraMetrics = [{
            var reloads = MetricFamily(name: "bascule_config_reloads_total", help: "Configuration reloads applied.", type: .counter)
            reloads.add(balancer.reloadCount)
            var failures = MetricFamily(name: "bascule_config_reload_failures_total",
                                        help: "Configuration reloads rejected (invalid file, port in use).", type: .counter)
            failures.add(balancer.reloadFailureCount)
            var workers = MetricFamily(name: "bascule_workers", help: "Worker threads relaying connections.", type: .gauge)
            workers.add(balancer.workerCountForMetrics)
            var draining = MetricFamily(name: "bascule_draining", help: "1 while the process drains for shutdown.", type: .gauge)
            draining.add(balancer.draining ? 1 : 0)
            return reloads.rendered + failures.rendered + workers.rendered + draining.rendered
        }]
    }

    func run(onReady: @escaping () -> Void) throws {
        balancer.onReady = onReady
        do {
            try balancer.run()
        } catch let error as StartupError {
            throw AssemblyError(description: "\(error)")
        }
        admin.close()
    }
}


struct AssemblyError: Error, CustomStringConvertible {
    let description: String
}
