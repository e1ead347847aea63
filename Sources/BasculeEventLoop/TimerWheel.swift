/// A hashed timing wheel. Connect, idle and drain timeouts are coarse (tens of ms at best),
/// so a wheel of fixed-size buckets gives O(1) scheduling without a heap, and an entry that is
/// no longer wanted is simply ignored when it fires (its owner checks its own deadline), so
/// nothing on the relay path ever has to cancel or move a timer.
public struct TimerWheel {
    public struct Entry {
        public let handler: HandlerID
        public let deadlineMs: UInt64
    }

    public let tickMs: UInt64
    private var buckets: [[Entry]]
    private var spare: [Entry] = []
    private let mask: UInt64
    /// The last tick whose bucket has been processed.
    private var processedTick: UInt64
    /// The first non-empty bucket's tick after `processedTick`, once a scan has found it; nil
    /// when unknown. The loop asks before every wait, and a scan can cross thousands of empty
    /// buckets (idle timeouts sit minutes ahead), so the answer is kept until it can change:
    /// an earlier entry lowers it, processing its bucket forgets it.
    private var nextTick: UInt64?
    public private(set) var count = 0

    public init(tickMs: UInt64 = 8, bucketCount: Int = 4096, nowMs: UInt64) {
        precondition(bucketCount > 0 && bucketCount & (bucketCount - 1) == 0, "bucket count must be a power of two")
        self.tickMs = tickMs
        buckets = Array(repeating: [], count: bucketCount)
        mask = UInt64(bucketCount - 1)
        processedTick = nowMs / tickMs
    }

    public var isEmpty: Bool { count == 0 }

    public mutating func schedule(_ handler: HandlerID, deadlineMs: UInt64) {
        // Never into the bucket already processed, or the entry would wait a whole turn.
        let tick = max(deadlineMs / tickMs, processedTick + 1)
        buckets[Int(tick & mask)].append(Entry(handler: handler, deadlineMs: deadlineMs))
        count += 1
        if let next = nextTick, tick < next { nextTick = tick }
    }

    /// Moves every entry whose deadline is at or before `nowMs` into `due`; later entries in
    /// the same bucket (a later turn of the wheel) stay. The caller fires them afterwards, so a
    /// handler may schedule again while its timer is being delivered.
    public mutating func advance(to nowMs: UInt64, into due: inout [Entry]) {
        let nowTick = nowMs / tickMs
        guard nowTick > processedTick else { return }
        // After a long stall, one pass over every bucket covers all ticks.
        let last = min(nowTick, processedTick + mask + 1)
        var tick = processedTick + 1
        while tick <= last {
            let index = Int(tick & mask)
            if !buckets[index].isEmpty {
                var bucket = spare
                swap(&bucket, &buckets[index])
                for entry in bucket {
                    if entry.deadlineMs / tickMs <= nowTick {
                        count -= 1
                        due.append(entry)
                    } else {
                        buckets[index].append(entry)
                    }
                }
                bucket.removeAll(keepingCapacity: true)
                spare = bucket
            }
            tick += 1
        }
        processedTick = nowTick
        if let next = nextTick, next <= nowTick { nextTick = nil }
    }

    /// Milliseconds until the next non-empty bucket comes due; nil when there is no timer.
    public mutating func millisecondsUntilNextBucket(nowMs: UInt64) -> Int? {
        guard count > 0 else { return nil }
        if nextTick == nil { nextTick = firstNonEmptyTick() }
        guard let tick = nextTick else { return Int(tickMs) }
        let due = tick * tickMs
        return due > nowMs ? Int(due - nowMs) : 0
    }

    private func firstNonEmptyTick() -> UInt64? {
        var tick = processedTick + 1
        let end = processedTick + mask + 1
        while tick <= end {
            if !buckets[Int(tick & mask)].isEmpty { return tick }
            tick += 1
        }
        return nil
    }
}
