/// Which backends a strategy may choose from: available primaries, or — only when no primary
/// is available — available backups (a failover partner).
public enum BackendSelection {
    public static func eligible(_ backends: [(entry: BackendEntry, isBackup: Bool, isAvailable: Bool)]) -> [BackendEntry] {
        let primaries = backends.filter { !$0.isBackup && $0.isAvailable }.map(\.entry)
        if !primaries.isEmpty { return primaries }
        return backends.filter { $0.isBackup && $0.isAvailable }.map(\.entry)
    }
}

/// Slow start: a backend that comes back ramps its weight so it is not flooded at once.
public enum SlowStart {
    public static func effectiveWeight(configured: Int, elapsedMs: Int, slowStartMs: Int) -> Int {
        guard slowStartMs > 0, elapsedMs < slowStartMs else { return configured }
        return max(1, configured * max(0, elapsedMs) / slowStartMs)
    }
}
