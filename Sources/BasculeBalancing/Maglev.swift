/// A Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
/// Balancer", NSDI 2016, §3.4): each backend fills the slots of its own permutation of the
/// table in turn, so every backend owns an almost equal share (weighted), and removing one
/// backend moves its own slots and only a small fraction of the others'.
///
/// Built by the control thread, separately from lookup, so it can be tested and benchmarked
/// alone. The table depends only on the backend set: backends are sorted by identity and the
/// permutations come from fixed hashes of name and address, so balancer nodes that share no
/// state, and list the backends in different orders, build byte-identical tables.
public struct MaglevTable: Sendable {
    /// Number of slots: a prime, at least the requested size and 100 × the backend count (the
    /// paper's bound for balance within about 1%).
    public let size: Int
    /// The backends, sorted by identity; `slots` holds positions in this array.
    public let backends: [BackendEntry]
    public let slots: [UInt32]
    @usableFromInline let indices: [Int]

    public static func tableSize(requested: Int, backendCount: Int) -> Int {
        nextPrime(atLeast: max(requested, 100 * backendCount, 2))
    }

    /// `backends` must not be empty.
    public init(backends: [BackendEntry], size requested: Int) {
        precondition(!backends.isEmpty, "a Maglev table needs at least one backend")
        let sorted = backends.sortedByIdentity()
        let size = Self.tableSize(requested: requested, backendCount: sorted.count)
        let count = sorted.count
        self.size = size
        self.backends = sorted
        indices = sorted.map(\.index)

        // Permutation of backend i: offset, offset + skip, offset + 2·skip, ... (mod size);
        // skip in 1..<size and size prime, so it visits every slot.
        var position = [Int](repeating: 0, count: count)
        var skip = [Int](repeating: 0, count: count)
        for (i, backend) in sorted.enumerated() {
            let identity = StableHash.identity(of: backend)
            let offsetHash = StableHash.fnv1a64(identity)
            let skipHash = StableHash.fnv1a64(identity, basis: 0x84222325CBF29CE4)
            position[i] = Int(offsetHash % UInt64(size))
            skip[i] = Int(skipHash % UInt64(size - 1)) + 1
        }

        // Weighted population as in Envoy's Maglev: in each round a backend takes a slot only
        // when its weight has earned one (round × weight ≥ credit spent), so the heaviest
        // takes one slot per round and the others proportionally fewer.
        let weights = sorted.map(\.weight)
        let maxWeight = weights.max()!
        var spent = [Int](repeating: 0, count: count)
        let empty = UInt32.max
        var slots = [UInt32](repeating: empty, count: size)
        var filled = 0
        var round = 0
        while filled < size {
            round += 1
            for i in 0..<count where filled < size {
                if round * weights[i] < spent[i] { continue }
                spent[i] += maxWeight
                var slot = position[i]
                while slots[slot] != empty {
                    slot += skip[i]
                    if slot >= size { slot -= size }
                }
                slots[slot] = UInt32(i)
                slot += skip[i]
                if slot >= size { slot -= size }
                position[i] = slot
                filled += 1
            }
        }
        self.slots = slots
    }

    /// The `BackendEntry.index` that owns `hash`.
    @inlinable
    public func lookup(hash: UInt64) -> Int {
        // Re-mixed, then scaled by multiply-high instead of `% size`: no division on the hot
        // path, and raw sequential hashes still spread over the whole table.
        let slot = StableHash.reduce(StableHash.mix64(hash), into: slots.count)
        return indices[Int(slots[slot])]
    }

    /// How many slots each backend owns, in `backends` order.
    public var slotCounts: [Int] {
        var counts = [Int](repeating: 0, count: backends.count)
        for slot in slots { counts[Int(slot)] += 1 }
        return counts
    }
}

/// Consistent hashing by Maglev table over `PickContext.clientHash`. A retry looks the table
/// up again with the attempt mixed into the hash (Envoy's `chooseHost(hash, attempt)`), and
/// if that lands on a backend already tried, draws among the others by weight: the same
/// answer on every node, spread over the survivors.
public struct Maglev: BalancingStrategy {
    public static let name = "maglev"

    public let table: MaglevTable?
    @usableFromInline let retry: RetryDraw

    public init(backends: [BackendEntry], options: StrategyOptions) {
        table = backends.isEmpty ? nil : MaglevTable(backends: backends, size: options.maglevTableSize)
        retry = RetryDraw(backends: backends)
    }

    // Not inlinable: it reads no load, and called through `Strategy` it measured cheaper
    // uninlined (e.g. round-robin 47 Ir per pick against 65).
    public mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        guard let table else { return nil }
        guard context.tried.isEmpty else {
            let hash = RetryDraw.hash(context.clientHash, attempt: context.attempt)
            let rehashed = table.lookup(hash: hash)
            return context.tried.contains(rehashed) ? retry.draw(hash: hash, excluding: context.tried) : rehashed
        }
        return table.lookup(hash: context.clientHash)
    }
}

private func nextPrime(atLeast n: Int) -> Int {
    var candidate = max(2, n)
    while !isPrime(candidate) { candidate += 1 }
    return candidate
}

private func isPrime(_ n: Int) -> Bool {
    if n < 4 { return n >= 2 }
    if n % 2 == 0 { return false }
    var d = 3
    while d * d <= n {
        if n % d == 0 { return false }
        d += 2
    }
    return true
}
