import CLinux

/// Every state change the monitor reported, in order.
final class ChangeRecorder {
    struct Change {
        var service: Int
        var backend: Int
        var healthy: Bool
        var reason: String
        var atNs: UInt64
    }

    private(set) var changes: [Change] = []

    func record(_ service: Int, _ backend: Int, _ healthy: Bool, _ reason: String) {
        changes.append(Change(service: service, backend: backend, healthy: healthy, reason: reason, atNs: cl_monotonic_ns()))
    }
}
