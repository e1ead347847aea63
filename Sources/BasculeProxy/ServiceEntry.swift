import BasculeConfig
import BasculePosix

/// The control thread's record of one running service: its configuration, the state and
/// counters of its backends (parallel to `config.backends`), the table last published to the
/// workers, and the workers' traffic counters for it.
final class ServiceEntry {
    let id: Int
    var config: ServiceConfig
    var counters: [BackendCounters]
    var states: [BackendState]
    var table: ServiceTable
    /// One per worker.
    let traffic: [TrafficStats]
    var limits: ServiceLimits
    var boundAddress: SocketAddress?

    init(id: Int, config: ServiceConfig, counters: [BackendCounters], states: [BackendState],
         table: ServiceTable, traffic: [TrafficStats], limits: ServiceLimits) {
        self.id = id
        self.config = config
        self.counters = counters
        self.states = states
        self.table = table
        self.traffic = traffic
        self.limits = limits
    }
}
