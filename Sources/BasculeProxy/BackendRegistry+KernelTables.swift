extension BackendRegistry {
    /// Hands every service's current table to `onTablePublished`: at start, once the kernel
    /// data plane is attached, and after a reload replaced the services.
    public func republishToKernel() {
        guard let onTablePublished else { return }
        for entry in services {
            onTablePublished(entry.table, entry.keepingFlows)
        }
    }
}

extension ServiceEntry {
    /// Per backend, whether the kernel data plane keeps the flows it already has there. As the
    /// proxy treats open connections: draining and disabling take no new ones and leave the
    /// open ones alone; a backend marked down (by checks or its agent) loses them, unless the
    /// service says `"onBackendDown": "keep"`.
    var keepingFlows: [Bool] {
        states.map { state in
            if config.onBackendDown == .keep { return true }
            guard state.healthy else { return false }
            switch state.agent?.effect {
            case .down?: return false
            default: return true
            }
        }
    }
}
