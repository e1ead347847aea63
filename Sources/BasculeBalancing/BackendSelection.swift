/// Which backends the strategy is built over: the available backends of the lowest tier that
/// has any (primaries are tier 0, `backup: true` is tier 1, a disaster-recovery site tier 2...),
/// so a failover partner takes no traffic while any primary can.
public enum BackendSelection {
    public static func eligible(
        _ backends: [(entry: BackendEntry, isBackup: Bool, isAvailable: Bool)]
    ) -> [BackendEntry] {
        eligible(tiered: backends.map { ($0.entry, $0.isBackup ? 1 : 0, $0.isAvailable) })
    }

    public static func eligible(
        tiered backends: [(entry: BackendEntry, tier: Int, isAvailable: Bool)]
    ) -> [BackendEntry] {
        guard let tier = activeTier(backends.map { ($0.tier, $0.isAvailable) }) else { return [] }
        return backends.filter { $0.tier == tier && $0.isAvailable }.map(\.entry)
    }

    /// The lowest tier with an available backend, or nil when none is available.
    public static func activeTier(_ backends: [(tier: Int, isAvailable: Bool)]) -> Int? {
        backends.filter(\.isAvailable).map(\.tier).min()
    }
}
