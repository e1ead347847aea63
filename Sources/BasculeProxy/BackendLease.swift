/// One connection's place on a backend's `active` count, taken when its socket exists and
/// given back exactly once: when the lease is replaced, set to nil, or its holder is freed.
/// Non-copyable, so no path can give back a place it never took (a failed socket() gave back
/// one it never took and drove the gauge to -265) or give one back twice.
struct BackendLease: ~Copyable {
    let counters: BackendCounters

    init(taking counters: BackendCounters) {
        counters.active.add(1, ordering: .relaxed)
        counters.total.add(1, ordering: .relaxed)
        self.counters = counters
    }

    deinit {
        counters.active.subtract(1, ordering: .relaxed)
    }
}
