import BasculeConfig
import BasculeEventLoop
import BasculeProxy

/// The last minutes of each service's connection rate and throughput, sampled on the control
/// loop whether or not anyone is looking, so the dashboard draws its charts the moment it opens
/// (an incident is when someone opens it, and the minutes before are what they need).
final class TrafficHistory: EventHandler {
    struct Series: Equatable {
        /// Per second over each interval, oldest first.
        var connectionsPerSecond: [Double] = []
        var bytesPerSecond: [Double] = []
    }

    let intervalMs: UInt64
    let capacity: Int
    private let loop: EventLoop
    private let target: AdminTarget
    private var id = HandlerID.unregistered
    private var previous: [String: (atMs: UInt64, accepted: Int, bytes: UInt64)] = [:]
    private(set) var series: [String: Series] = [:]

    init(loop: EventLoop, target: AdminTarget, intervalMs: UInt64, capacity: Int) {
        self.loop = loop
        self.target = target
        self.intervalMs = max(1, intervalMs)
        self.capacity = max(2, capacity)
        id = loop.register(self)
        // The first sample on the loop's own thread, like every later one.
        loop.schedule(id, atMs: loop.nowMs)
    }

    func stop() {
        loop.unregister(id)
    }

    func handleEvent(_ events: EpollEvents, tag: UInt8) {}

    func handleTimer(nowMs: UInt64) {
        sample(nowMs: nowMs)
        loop.schedule(id, atMs: nowMs + intervalMs)
    }

    func sample(nowMs: UInt64) {
        var seen: [String: (atMs: UInt64, accepted: Int, bytes: UInt64)] = [:]
        for service in target.status() {
            let bytes = service.backends.reduce(UInt64(0)) { $0 &+ $1.bytesIn &+ $1.bytesOut }
            seen[service.name] = (nowMs, service.connectionsAccepted, bytes)
            // A service removed and added again by reloads starts its counters over: no point
            // for that interval rather than a negative one.
            guard let before = previous[service.name], nowMs > before.atMs,
                  service.connectionsAccepted >= before.accepted, bytes >= before.bytes else { continue }
            let seconds = Double(nowMs - before.atMs) / 1000
            var entry = series[service.name] ?? Series()
            entry.connectionsPerSecond.append(Self.rounded(Double(service.connectionsAccepted - before.accepted) / seconds))
            entry.bytesPerSecond.append(Self.rounded(Double(bytes - before.bytes) / seconds))
            if entry.connectionsPerSecond.count > capacity {
                entry.connectionsPerSecond.removeFirst(entry.connectionsPerSecond.count - capacity)
                entry.bytesPerSecond.removeFirst(entry.bytesPerSecond.count - capacity)
            }
            series[service.name] = entry
        }
        previous = seen
        series = series.filter { seen[$0.key] != nil }
    }

    /// The /status member the dashboard draws from.
    var json: JSONValue {
        .object([
            ("intervalSeconds", .double(Double(intervalMs) / 1000)),
            ("services", .array(series.keys.sorted().map { name in
                let entry = series[name]!
                return .object([("name", .string(name)),
                                ("connectionsPerSecond", .array(entry.connectionsPerSecond.map { .double($0) })),
                                ("bytesPerSecond", .array(entry.bytesPerSecond.map { .double($0) }))])
            })),
        ])
    }

    private static func rounded(_ value: Double) -> Double {
        (value * 100).rounded() / 100
    }
}
