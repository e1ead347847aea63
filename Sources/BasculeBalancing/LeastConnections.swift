import CActiveCounts

/// The backend with the fewest active connections per unit of weight. Equally loaded backends
/// share by smooth weighted round-robin, as nginx's least_conn breaks ties: with short
/// connections every backend is at 0 most of the time, and rotating ties instead would give
/// weights 1, 1, 2 a third each.
///
/// O(n) per pick: the counts are live atomics shared by every worker, so there is no ordered
/// structure a worker could keep up to date without a lock; reading n counters is the price,
/// and `power-of-two` is the O(1) choice for huge pools. The price is kept low by reading the
/// counts where they lie, one contiguous `UInt32` array per service (`BackendEntry.slot`),
/// 16 or 8 at a time (`bascule_least_loaded`, AVX-512 or AVX2 where the CPU has them): load is compared as
/// active × (L / weight), L the weights' least common multiple, a 32-bit multiply and min per
/// lane and no division. Only a retry, weights whose L passes 2³², or a key that could wrap
/// 32 bits take the one-backend-at-a-time loop.
public struct LeastConnections: BalancingStrategy {
    public static let name = "least-connections"

    @usableFromInline let indices: [Int]
    @usableFromInline let weights: [Int]
    /// L / weight per backend; 2³² / weight, rounded, when L would exceed 2³² (ties between
    /// unequal weights are then approximate).
    @usableFromInline let scales: [Int]
    /// Smooth weighted round-robin counters of the tie-break.
    @usableFromInline var current: [Int]
    /// Scratch for the positions tied at the lowest load in one scan, so the tie-break visits
    /// only them; sized once here, so a pick writes into it and never allocates.
    @usableFromInline var tied: [Int]
    /// The vector scan's view of the count store (see `LeastLoadedSpan`); nil when the scan
    /// cannot be used (scales past 32 bits, or slots too scattered to be worth scanning).
    @usableFromInline let span: LeastLoadedSpan?
    /// The scan's tied slot offsets.
    @usableFromInline var tiedSlots: [UInt32]
    /// The tie-break when every backend is tied (all idle, the common case with short
    /// connections): the precomputed smooth weighted round-robin cycle, O(1) where the O(n)
    /// step over 300 counters cost more than the scan.
    @usableFromInline var everyoneTied: WeightedRoundRobin

    public init(backends: [BackendEntry], options: StrategyOptions) {
        indices = backends.map(\.index)
        weights = backends.map(\.weight)
        scales = Self.scales(weights)
        current = [Int](repeating: 0, count: weights.count)
        tied = [Int](repeating: 0, count: weights.count)
        everyoneTied = WeightedRoundRobin(backends: backends, options: options)
        span = LeastLoadedSpan(slots: backends.map(\.slot), scales: scales)
        tiedSlots = [UInt32](repeating: 0, count: span?.count ?? 0)
        reseed(options.seed)
    }

    /// Starts the tie-breaks `seed % n` steps into their cycles, so workers do not all send
    /// their first idle-time connections to the same backend.
    public mutating func reseed(_ seed: UInt64) {
        guard !indices.isEmpty else { return }
        everyoneTied.reseed(seed)
        current = [Int](repeating: 0, count: weights.count)
        let total = weights.reduce(0, +)
        for _ in 0..<Int(seed % UInt64(indices.count)) {
            _ = WeightedRoundRobin.smoothStep(&current, weights: weights, total: total)
        }
    }

    // Inlinable so the proxy's load source is specialised in: no witness-table call per
    // counter (at 300 backends, measured before the tie scratch: 8,168 Ir per pick without, 3,972 with).
    @inlinable
    public mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        if context.tried.isEmpty {
            if let span, let chosen = scanPick(span, load: load) { return chosen }
            return pick(load: load) { _ in false }
        }
        let tried = context.tried
        return pick(load: load) { tried.contains($0) }
    }

    /// The vector scan; nil when its answer cannot be trusted (a key could have wrapped, or
    /// the counts moved between its two passes), and the caller scans the slow way.
    @inlinable
    mutating func scanPick<Load: LoadSource>(_ span: LeastLoadedSpan, load: Load) -> Int? {
        var largestCount: UInt32 = 0
        let ties = tiedSlots.withUnsafeMutableBufferPointer { tiedSlots in
            load.withActiveCounts { counts in
                bascule_least_loaded(counts + span.start, span.scales, span.holesIfAny, span.count,
                                     tiedSlots.baseAddress!, &largestCount)
            }
        }
        guard ties > 0, UInt64(largestCount) &* span.largestScale < UInt64(UInt32.max) else { return nil }
        if ties == indices.count { return everyoneTied.pick(PickContext(), load: load) }
        if ties == 1 { return indices[Int(span.positions[Int(tiedSlots[0])])] }
        for t in 0..<ties { tied[t] = Int(span.positions[Int(tiedSlots[t])]) }
        return indices[breakTie(ties)]
    }

    @inlinable @inline(__always)
    mutating func pick<Load: LoadSource>(load: Load, skipping skip: (Int) -> Bool) -> Int? {
        let count = indices.count
        var best = Int.max
        var ties = 0
        indices.withUnsafeBufferPointer { indices in
            scales.withUnsafeBufferPointer { scales in
                tied.withUnsafeMutableBufferPointer { tied in
                    for i in 0..<count where !skip(indices[i]) {
                        let key = load.activeConnections(backend: indices[i]) &* scales[i]
                        if key < best {
                            best = key
                            tied[0] = i
                            ties = 1
                        } else if key == best {
                            tied[ties] = i
                            ties &+= 1
                        }
                    }
                }
            }
        }
        guard ties > 0 else { return nil }
        return indices[ties == 1 ? tied[0] : breakTie(ties)]
    }

    /// nginx's smooth WRR over the first `ties` positions of `tied`: each gains its weight,
    /// the highest wins and pays back their total.
    @inlinable
    mutating func breakTie(_ ties: Int) -> Int {
        var chosen = tied[0]
        var total = 0
        for t in 0..<ties {
            let i = tied[t]
            current[i] += weights[i]
            total += weights[i]
            if current[i] > current[chosen] { chosen = i }
        }
        current[chosen] -= total
        return chosen
    }

    static func scales(_ weights: [Int]) -> [Int] {
        let limit = 1 << 32
        var multiple = 1
        for weight in weights {
            let (product, overflow) = (multiple / gcd(multiple, weight)).multipliedReportingOverflow(by: weight)
            guard !overflow, product <= limit else { return weights.map { (limit + $0 / 2) / $0 } }
            multiple = product
        }
        return weights.map { multiple / $0 }
    }
}

/// Least-connections' immutable view of the count store for its vector scan: slots
/// `start ..< start + count`, a scale per slot and a hole mask (all ones) for the slots that
/// are not the strategy's backends. Raw buffers in a class shared by every worker's copy, so a
/// pick borrows them without retaining three arrays (that cost more than the scan at 30).
public final class LeastLoadedSpan: @unchecked Sendable {
    @usableFromInline let start: Int
    @usableFromInline let count: Int
    @usableFromInline let scales: UnsafeMutablePointer<UInt32>
    @usableFromInline let holes: UnsafeMutablePointer<UInt32>
    /// `holes`, or nil when the span has none (the scan then skips loading them).
    @usableFromInline let holesIfAny: UnsafeMutablePointer<UInt32>?
    /// Position among the strategy's backends of each slot (-1 for a hole).
    @usableFromInline let positions: UnsafeMutablePointer<Int32>
    @usableFromInline let largestScale: UInt64

    /// nil when a scale does not fit 32 bits or the slots are spread too thin to scan.
    init?(slots: [Int], scales: [Int]) {
        guard let low = slots.min(), let high = slots.max(), scales.allSatisfy({ $0 <= Int(UInt32.max) }),
              high - low + 1 <= 4 * slots.count + 64 else { return nil }
        start = low
        count = high - low + 1
        self.scales = .allocate(capacity: count)
        self.scales.initialize(repeating: 0, count: count)
        holes = .allocate(capacity: count)
        holes.initialize(repeating: .max, count: count)
        positions = .allocate(capacity: count)
        positions.initialize(repeating: -1, count: count)
        for (position, slot) in slots.enumerated() {
            self.scales[slot - low] = UInt32(scales[position])
            holes[slot - low] = 0
            positions[slot - low] = Int32(position)
        }
        holesIfAny = count == slots.count ? nil : holes
        largestScale = UInt64(scales.max() ?? 0)
    }

    deinit {
        scales.deallocate()
        holes.deallocate()
        positions.deallocate()
    }
}
