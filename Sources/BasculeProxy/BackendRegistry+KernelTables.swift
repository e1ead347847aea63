extension BackendRegistry {
    /// Hands every service's current table to `onTablePublished`: at start, once the kernel
    /// data plane is attached, and after a reload replaced the services.
    public func republishToKernel() {
        guard let onTablePublished else { return }
        for entry in services {
            onTablePublished(entry.table, entry.states.map(\.keepsFlows))
        }
    }
}

extension BackendState {
    /// The backend still serves the flows it has (up, or draining): the kernel data plane
    /// keeps them on it, and moves them only when it is down or disabled.
    var keepsFlows: Bool {
        guard healthy, admin != .disabled else { return false }
        switch agent?.effect {
        case .down?, .maint?: return false
        default: return true
        }
    }
}
