import BasculePosix
import CLinux
import Glibc

/// Readiness bits as delivered by epoll, named for what the relay cares about.
public struct EpollEvents: OptionSet, Sendable {
    public let rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    // Computed and inlinable rather than stored: a stored static initialised from a C constant
    // is a lazily initialised global, which another module reaches through a call per use
    // (five per event in the relay); inlined, each folds to a constant.
    @inlinable public static var readable: EpollEvents { EpollEvents(rawValue: CL_EPOLLIN) }
    @inlinable public static var writable: EpollEvents { EpollEvents(rawValue: CL_EPOLLOUT) }
    @inlinable public static var error: EpollEvents { EpollEvents(rawValue: CL_EPOLLERR) }
    @inlinable public static var hangup: EpollEvents { EpollEvents(rawValue: CL_EPOLLHUP) }
    @inlinable public static var readHangup: EpollEvents { EpollEvents(rawValue: CL_EPOLLRDHUP) }
    @inlinable public static var edgeTriggered: EpollEvents { EpollEvents(rawValue: CL_EPOLLET) }
    @inlinable public static var exclusive: EpollEvents { EpollEvents(rawValue: CL_EPOLLEXCLUSIVE) }
}

/// An epoll instance and the buffers one `epoll_wait` fills. Owned by exactly one thread.
public final class Epoll {
    public let fd: Int32
    public let capacity: Int
    private let scratch: UnsafeMutableRawPointer
    public let readyEvents: UnsafeMutablePointer<UInt32>
    public let readyData: UnsafeMutablePointer<UInt64>

    public init(capacity: Int = 256) throws(SystemError) {
        fd = Int32(try syscallValue("epoll_create1") { Int(cl_epoll_create()) })
        self.capacity = capacity
        scratch = UnsafeMutableRawPointer.allocate(byteCount: capacity * cl_epoll_event_size(), alignment: 16)
        readyEvents = .allocate(capacity: capacity)
        readyData = .allocate(capacity: capacity)
    }

    deinit {
        closeDescriptor(fd)
        scratch.deallocate()
        readyEvents.deallocate()
        readyData.deallocate()
    }

    @inlinable
    public func add(_ target: Int32, events: EpollEvents, data: UInt64) throws(SystemError) {
        _ = try syscallValue("epoll_ctl(ADD)") { Int(cl_epoll_ctl(fd, CL_EPOLL_CTL_ADD, target, events.rawValue, data)) }
    }

    @inlinable
    public func modify(_ target: Int32, events: EpollEvents, data: UInt64) throws(SystemError) {
        _ = try syscallValue("epoll_ctl(MOD)") { Int(cl_epoll_ctl(fd, CL_EPOLL_CTL_MOD, target, events.rawValue, data)) }
    }

    /// Only needed for descriptors that stay open; closing a descriptor removes it from epoll.
    @inlinable
    public func remove(_ target: Int32) throws(SystemError) {
        _ = try syscallValue("epoll_ctl(DEL)") { Int(cl_epoll_ctl(fd, CL_EPOLL_CTL_DEL, target, 0, 0)) }
    }

    /// Waits for events; results are in `readyEvents[0..<n]` and `readyData[0..<n]`.
    public func wait(timeoutMs: Int32) throws(SystemError) -> Int {
        let ptr = scratch.assumingMemoryBound(to: epoll_event.self)
        switch try syscall("epoll_wait", { Int(cl_epoll_wait(fd, ptr, readyEvents, readyData, Int32(capacity), timeoutMs)) }) {
        case .processed(let n): return n
        case .wouldBlock: return 0
        }
    }
}
