// The loop speaks in the floor's types (SystemError, IOResult, syscall): whoever uses a loop
// uses the floor, as NIOPosix re-exports NIOCore.
@_exported import BasculePosix
import CLinux
import Glibc

/// Identifies a registered handler; the generation makes events and timers that were queued
/// for a handler that has since gone (and whose slot was reused) harmless.
public struct HandlerID: Hashable, Sendable {
    public let slot: UInt32
    public let generation: UInt32

    /// Placeholder for a handler not registered yet; the loop never hands it out.
    public static let unregistered = HandlerID(slot: .max, generation: 0)
}

/// Something the loop dispatches readiness and timer expiry to. `tag` says which of the
/// handler's descriptors fired (a relayed connection watches two).
public protocol EventHandler: AnyObject {
    func handleEvent(_ events: EpollEvents, tag: UInt8)
    func handleTimer(nowMs: UInt64)
}

extension EventHandler {
    public func handleTimer(nowMs: UInt64) {}
}

/// One thread's epoll loop. Not thread-safe by design: everything registered on it is touched
/// only from the thread running `run()`; other threads talk to it through a `Mailbox`.
public final class EventLoop {
    public let epoll: Epoll
    /// A registration: the handler, and the generation its ids carry.
    private struct Slot {
        var handler: EventHandler?
        var generation: UInt32
    }
    /// Read for every event, written by every register and unregister. Unchecked: only the
    /// loop's thread touches them, and no access spans a call that could come back to them
    /// (a handler runs after its slot has been read; a removed handler is released after the
    /// write, see `unregister`), so the runtime's exclusivity check could never fire and would
    /// cost a call into the runtime each time.
    @exclusivity(unchecked) private var slots: [Slot] = []
    @exclusivity(unchecked) private var freeSlots: [UInt32] = []
    /// Read or advanced on every wake-up; unchecked for the reason `slots` is. Handlers schedule
    /// only while dispatched, and due timers are moved out of the wheel before any runs.
    @exclusivity(unchecked) private var wheel: TimerWheel
    @exclusivity(unchecked) private var dueTimers: [TimerWheel.Entry] = []
    /// Monotonic milliseconds, read once per wake-up; handlers use it instead of reading the
    /// clock themselves, on every event.
    @inlinable public var nowMs: UInt64 { currentMs }
    /// Unchecked: written in one place, between dispatches, by the thread that owns the loop.
    /// Checked, every read would cost a call into the runtime's exclusivity tracking and a
    /// retain of the loop around it. Read through the inlinable `nowMs`, because the attribute
    /// only exempts accesses compiled in this module.
    @exclusivity(unchecked) @usableFromInline var currentMs: UInt64
    private var running = false
    /// Counts wake-ups, so work spread over turns (health checks started) can tell one from
    /// the next.
    public private(set) var turn: UInt64 = 0
    /// Called once per wake-up after events and timers are handled. Read unchecked for the
    /// reason `slots` is (the read ends before the call).
    @exclusivity(unchecked) public var afterIteration: (() -> Void)?

    public init(eventCapacity: Int = 256) throws(SystemError) {
        BrokenPipe.ignore()
        epoll = try Epoll(capacity: eventCapacity)
        currentMs = cl_monotonic_coarse_ms()
        wheel = TimerWheel(nowMs: currentMs)
    }

    public var registeredHandlerCount: Int { slots.count - freeSlots.count }

    public func register(_ handler: EventHandler) -> HandlerID {
        if let slot = freeSlots.popLast() {
            slots[Int(slot)].handler = handler
            return HandlerID(slot: slot, generation: slots[Int(slot)].generation)
        }
        let slot = UInt32(slots.count)
        precondition(slot < 1 << 24, "too many handlers for the event tag encoding")
        slots.append(Slot(handler: handler, generation: 1))
        return HandlerID(slot: slot, generation: 1)
    }

    /// Forgets the handler; its pending events and timers are dropped when they arrive.
    public func unregister(_ id: HandlerID) {
        let slot = Int(id.slot)
        guard slot < slots.count, slots[slot].generation == id.generation else { return }
        // Held until the table is consistent again: if this was the last reference, the
        // handler's deinit runs after the writes below, never in the middle of one.
        let removed = slots[slot].handler
        slots[slot].handler = nil
        slots[slot].generation &+= 1
        freeSlots.append(id.slot)
        withExtendedLifetime(removed) {}
    }

    /// The live handler `id` names, or nil when it has been unregistered since.
    @inline(__always)
    private func handler(slot: Int, generation: UInt32) -> EventHandler? {
        guard slot < slots.count, slots[slot].generation == generation else { return nil }
        return slots[slot].handler
    }

    @inlinable
    static func encode(_ id: HandlerID, tag: UInt8) -> UInt64 {
        UInt64(id.generation) << 32 | UInt64(tag) << 24 | UInt64(id.slot)
    }

    /// Edge-triggered by default: handlers read and write until EAGAIN, and a descriptor is
    /// registered once for both directions so backpressure needs no epoll_ctl calls.
    public func watch(_ fd: Int32, events: EpollEvents = [.readable, .writable, .readHangup, .edgeTriggered],
                      handler id: HandlerID, tag: UInt8 = 0) throws(SystemError) {
        try epoll.add(fd, events: events, data: Self.encode(id, tag: tag))
    }

    public func rewatch(_ fd: Int32, events: EpollEvents, handler id: HandlerID, tag: UInt8 = 0) throws(SystemError) {
        try epoll.modify(fd, events: events, data: Self.encode(id, tag: tag))
    }

    public func unwatch(_ fd: Int32) {
        _ = try? epoll.remove(fd)
    }

    public func schedule(_ id: HandlerID, atMs deadline: UInt64) {
        wheel.schedule(id, deadlineMs: deadline)
    }

    public func stop() { running = false }

    /// Runs until `stop()` is called from a handler on this loop.
    public func run() throws(SystemError) {
        running = true
        while running {
            try runOnce(maxWaitMs: -1)
        }
    }

    /// One wait plus dispatch; `maxWaitMs` < 0 waits as long as no timer is due.
    public func runOnce(maxWaitMs: Int) throws(SystemError) {
        var timeout = wheel.millisecondsUntilNextBucket(nowMs: nowMs) ?? -1
        if maxWaitMs >= 0 && (timeout < 0 || timeout > maxWaitMs) { timeout = maxWaitMs }
        let count = try epoll.wait(timeoutMs: Int32(clamping: timeout))
        currentMs = cl_monotonic_coarse_ms()
        turn &+= 1
        for i in 0..<count {
            let data = epoll.readyData[i]
            guard let handler = handler(slot: Int(data & 0xFF_FFFF), generation: UInt32(truncatingIfNeeded: data >> 32)) else { continue }
            handler.handleEvent(EpollEvents(rawValue: epoll.readyEvents[i]), tag: UInt8(truncatingIfNeeded: data >> 24))
        }
        if !wheel.isEmpty {
            wheel.advance(to: nowMs, into: &dueTimers)
            for entry in dueTimers {
                guard let handler = handler(slot: Int(entry.handler.slot), generation: entry.handler.generation) else { continue }
                handler.handleTimer(nowMs: nowMs)
            }
            dueTimers.removeAll(keepingCapacity: true)
        }
        afterIteration?()
    }
}
