/// Which backends the strategy is built over: the available primaries, or, only when no
/// primary is available, the available backups (a failover partner takes no traffic while
/// any primary can).
public enum BackendSelection {
    public static func eligible(
        _ backends: [(entry: BackendEntry, isBackup: Bool, isAvailable: Bool)]
    ) -> [BackendEntry] {
        let primaries = backends.filter { !$0.isBackup && $0.isAvailable }.map(\.entry)
        if !primaries.isEmpty { return primaries }
        return backends.filter { $0.isBackup && $0.isAvailable }.map(\.entry)
    }
}
