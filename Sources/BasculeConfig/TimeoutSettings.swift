/// The connection settings shared by `defaults` and each service: a service's own
/// value wins, else the file's `defaults`, else the built-in `Defaults()`.
enum TimeoutSettings {
    static func resolve(_ object: ObjectAtPath, fallback: Defaults, collector: inout ErrorCollector) -> Defaults {
        Defaults(connectTimeoutMs: collector.int(object, "connectTimeoutMs", .positive) ?? fallback.connectTimeoutMs,
                 idleTimeoutMs: collector.int(object, "idleTimeoutMs", .positive) ?? fallback.idleTimeoutMs,
                 retries: collector.int(object, "retries", .range(0...10)) ?? fallback.retries,
                 drainTimeoutMs: collector.int(object, "drainTimeoutMs", .nonNegative) ?? fallback.drainTimeoutMs,
                 keepAliveIdleSeconds: collector.int(object, "keepAliveIdleSeconds", .range(0...32767)) ?? fallback.keepAliveIdleSeconds,
                 keepAliveIntervalSeconds: collector.int(object, "keepAliveIntervalSeconds", .range(1...32767)) ?? fallback.keepAliveIntervalSeconds,
                 keepAliveCount: collector.int(object, "keepAliveCount", .range(1...127)) ?? fallback.keepAliveCount,
                 backendUserTimeoutMs: collector.int(object, "backendUserTimeoutMs", .nonNegative) ?? fallback.backendUserTimeoutMs)
    }
}
