import CActiveCounts
import Glibc
import Synchronization

/// One service's active-connection counts, one `UInt32` slot per backend in one contiguous
/// array, so least-connections scans them as a vector instead of chasing one object per
/// backend. A backend keeps its slot for its life (its `BackendCounters` own it), across table
/// rebuilds, reloads and other backends' arrivals and departures, and a lease gives back to
/// the slot it took from; the store itself is carried from reload to reload with the service.
///
/// The array never moves (workers hold pointers into it): it is reserved at its largest up
/// front, `capacity` slots of zeroed address space that the kernel backs with memory only
/// where slots are used. Freed slots are reused lowest first, so the slots in use stay packed
/// at the start and the scan's span stays close to the number of backends.
public final class ActiveCountStore: @unchecked Sendable {
    /// A service with more backends than this at once stops the process (the store cannot grow).
    static let capacity = 1 << 20

    let base: UnsafeMutablePointer<UInt32>
    /// Slots given back (by `BackendCounters`' deinit, on whichever thread drops the last
    /// reference) and the first never-used slot. Taken only when backends are added or
    /// removed, never on a connection.
    private let free = Mutex<(released: [Int], next: Int)>(([], 0))

    public init() {
        guard let memory = calloc(Self.capacity, MemoryLayout<UInt32>.stride) else {
            fatalError("cannot reserve the active-connection count store")
        }
        base = memory.bindMemory(to: UInt32.self, capacity: Self.capacity)
    }

    deinit {
        Glibc.free(base)
    }

    /// The store of a service without backends: nothing takes a slot from it.
    static let empty = ActiveCountStore()

    /// A slot for a new backend, at 0.
    func takeSlot() -> Int {
        free.withLock { free in
            if let lowest = free.released.indices.min(by: { free.released[$0] < free.released[$1] }) {
                return free.released.remove(at: lowest)
            }
            precondition(free.next < Self.capacity, "more than \(Self.capacity) backends in one service")
            defer { free.next += 1 }
            return free.next
        }
    }

    /// Gives back a slot whose backend is gone; its count is 0 (every lease on it has ended,
    /// since leases hold the backend's counters).
    func releaseSlot(_ slot: Int) {
        assert(bascule_count_load(base + slot) == 0, "a slot given back with connections on it")
        free.withLock { $0.released.append(slot) }
    }
}

/// A backend's active count: its slot in the service's `ActiveCountStore`, changed atomically
/// by every worker. The same calls as an `Atomic<Int>`, so readers did not change.
public struct ActiveCount: @unchecked Sendable {
    let count: UnsafeMutablePointer<UInt32>

    @inline(__always)
    public func load(ordering: AtomicLoadOrdering) -> Int {
        Int(bascule_count_load(count))
    }

    @inline(__always)
    func add(_ delta: Int, ordering: AtomicUpdateOrdering) {
        bascule_count_add(count, UInt32(truncatingIfNeeded: delta))
    }

    @inline(__always)
    func subtract(_ delta: Int, ordering: AtomicUpdateOrdering) {
        bascule_count_subtract(count, UInt32(truncatingIfNeeded: delta))
    }
}
