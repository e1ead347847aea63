import CActiveCounts

/// The backend with the fewest active connections per unit of weight. Equally loaded backends
/// share by weight, as nginx's least_conn breaks ties: with short connections every backend is
/// at 0 most of the time, and rotating ties instead would give weights 1, 1, 2 a third each.
/// Two ways, whichever takes fewer steps: the pool's smooth weighted round-robin cycle walked
/// from where this copy stands, skipping the backends not tied (total weight / tied weight
/// steps expected: one when all are idle), or smooth weighted round-robin over the tied alone,
/// as nginx does (one step per tied backend: the few at the bottom of a loaded pool). The
/// tie-break over the tied alone cost 100 ns more at 300 backends with 75 tied.
///
/// O(n) per pick: the counts are live atomics shared by every worker, so there is no ordered
/// structure a worker could keep up to date without a lock; reading n counters is the price,
/// and `power-of-two` is the O(1) choice for huge pools. The price is kept low by reading the
/// counts where they lie, one contiguous `UInt32` array per service (`BackendEntry.slot`),
/// 16 or 8 at a time (`bascule_least_loaded_pick`, AVX-512 or AVX2 where the CPU has them):
/// load is compared as active × (L / weight), L the weights' least common multiple, a 32-bit
/// multiply per lane and no division. The tie-break runs in the same C call, so a pick crosses
/// into C once and retains nothing (a pick that returned to Swift for it cost 25 ns more at
/// 300 backends with 6 tied). Only a retry, weights whose L passes 2³², or a key that could
/// wrap 32 bits take the one-backend-at-a-time loop, which always breaks ties over the tied.
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
    /// Keeps the vector scan's view of the count store alive (see `LeastLoadedSpan`); nil when
    /// the scan cannot be used (scales past 32 bits, or slots too scattered to be worth scanning).
    let span: LeastLoadedSpan?
    /// `span`'s C view, copied out so a pick reads it without retaining the span.
    @usableFromInline let spanView: LeastLoadedSpan.View?
    /// The scan's scratch: tied slot offsets, with the 16 slots of room its vector stores need.
    @usableFromInline var tiedSlots: [UInt32]
    /// Where this copy stands in the span's weighted cycle (walked when many are tied).
    @usableFromInline var cycleCursor: Int

    public init(backends: [BackendEntry], options: StrategyOptions) {
        indices = backends.map(\.index)
        weights = backends.map(\.weight)
        scales = Self.scales(weights)
        current = [Int](repeating: 0, count: weights.count)
        tied = [Int](repeating: 0, count: weights.count)
        cycleCursor = 0
        span = LeastLoadedSpan(slots: backends.map(\.slot), scales: scales, weights: weights,
                               cycle: WeightedRoundRobin(backends: backends, options: options).cycle)
        spanView = span.map { LeastLoadedSpan.View(pointer: UnsafePointer($0.view), start: $0.start) }
        tiedSlots = [UInt32](repeating: 0, count: span.map { $0.count + 16 } ?? 0)
        reseed(options.seed)
    }

    /// Starts the tie-breaks `seed % n` steps into their cycles, so workers do not all send
    /// their first idle-time connections to the same backend.
    public mutating func reseed(_ seed: UInt64) {
        guard !indices.isEmpty else { return }
        if let span, span.cycleLength > 0 { cycleCursor = Int(seed % UInt64(span.cycleLength)) }
        // Fresh scratch too: a worker's copy would otherwise share the template's arrays and
        // copy them on its first pick, on the hot path.
        current = [Int](repeating: 0, count: weights.count)
        tied = [Int](repeating: 0, count: tied.count)
        tiedSlots = [UInt32](repeating: 0, count: tiedSlots.count)
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
            if let spanView, let chosen = scanPick(spanView, load: load) { return chosen }
            return pick(load: load) { _ in false }
        }
        let tried = context.tried
        return pick(load: load) { tried.contains($0) }
    }

    /// The vector scan and its tie-break; nil when its answer cannot be trusted (a key could
    /// have wrapped), and the caller scans the slow way.
    @inlinable
    mutating func scanPick<Load: LoadSource>(_ view: LeastLoadedSpan.View, load: Load) -> Int? {
        let position = current.withUnsafeMutableBufferPointer { current in
            tiedSlots.withUnsafeMutableBufferPointer { ties in
                withUnsafeMutablePointer(to: &cycleCursor) { cursor in
                    load.withActiveCounts { counts in
                        bascule_least_loaded_pick(counts + view.start, view.pointer, ties.baseAddress!,
                                                  current.baseAddress!, cursor)
                    }
                }
            }
        }
        return position >= 0 ? indices[position] : nil
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
/// `start ..< start + count`, a scale per slot, a hole mask (all ones) for the slots that are
/// not the strategy's backends, the weights for the tie-breaks and the pool's weighted cycle as
/// slot offsets. Raw buffers in a class shared by every worker's copy, so a pick borrows them
/// without retaining arrays (that cost more than the scan at 30).
public final class LeastLoadedSpan: @unchecked Sendable {
    /// What a pick reads: the C view and the first slot. Unchecked Sendable: it points into an
    /// immutable span that the strategy holding this also keeps alive.
    @usableFromInline
    struct View: @unchecked Sendable {
        @usableFromInline let pointer: UnsafePointer<bascule_least_loaded_span>
        @usableFromInline let start: Int
    }

    let start: Int
    let count: Int
    let cycleLength: Int
    let view: UnsafeMutablePointer<bascule_least_loaded_span>
    private let scales: UnsafeMutablePointer<UInt32>
    private let holes: UnsafeMutablePointer<UInt32>
    private let positions: UnsafeMutablePointer<Int32>
    private let weights: UnsafeMutablePointer<Int>
    private let slotWeights: UnsafeMutablePointer<UInt32>
    private let cycle: UnsafeMutablePointer<UInt32>

    /// nil when a scale does not fit 32 bits or the slots are spread too thin to scan.
    /// `cycle` is the pool's smooth weighted round-robin cycle as positions (empty when it
    /// was too long to precompute); it is walked only while the weights' sum fits 31 bits, as
    /// the scan sums the tied weights in 32-bit lanes.
    init?(slots: [Int], scales: [Int], weights: [Int], cycle: [UInt32]) {
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
        slotWeights = .allocate(capacity: count)
        slotWeights.initialize(repeating: 0, count: count)
        let totalWeight = weights.reduce(0, +)
        let walkable = !cycle.isEmpty && totalWeight <= Int(Int32.max)
        for (position, slot) in slots.enumerated() {
            self.scales[slot - low] = UInt32(scales[position])
            holes[slot - low] = 0
            positions[slot - low] = Int32(position)
            slotWeights[slot - low] = walkable ? UInt32(weights[position]) : 0
        }
        self.weights = .allocate(capacity: weights.count)
        self.weights.initialize(from: weights, count: weights.count)
        cycleLength = walkable ? cycle.count : 0
        self.cycle = .allocate(capacity: max(1, cycleLength))
        for (step, position) in cycle.prefix(cycleLength).enumerated() {
            self.cycle[step] = UInt32(slots[Int(position)] - low)
        }
        view = .allocate(capacity: 1)
        view.initialize(to: bascule_least_loaded_span(
            scales: self.scales, holes: count == slots.count ? nil : UnsafePointer(holes),
            positions: positions, weights: self.weights, slot_weights: slotWeights, cycle: self.cycle, cycle_length: cycleLength, count: count,
            largest_scale: UInt64(scales.max() ?? 0), total_weight: walkable ? UInt64(totalWeight) : 0,
            list_limit: walkable ? Self.squareRootRoundedUp(totalWeight) : Int.max))
    }

    deinit {
        view.deallocate()
        scales.deallocate()
        holes.deallocate()
        positions.deallocate()
        weights.deallocate()
        slotWeights.deallocate()
        cycle.deallocate()
    }

    static func squareRootRoundedUp(_ value: Int) -> Int {
        var root = Int(Double(value).squareRoot())
        while root * root < value { root += 1 }
        while root > 0, (root - 1) * (root - 1) >= value { root -= 1 }
        return root
    }
}
