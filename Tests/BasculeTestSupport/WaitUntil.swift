#if canImport(Glibc)
import Glibc
#endif

/// A readiness wait that ran out of time; the message says what was awaited.
public struct WaitTimeout: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) { self.description = description }
}

/// Polls `condition` until it returns true, or throws `WaitTimeout` naming `what` after `timeout`.
///
/// Use this (or `ManagedProcess.waitForLine`) for every readiness check: a bare sleep is either
/// too short on a loaded CI machine or wastes time everywhere else.
public func waitUntil(_ what: @autoclosure () -> String = "condition",
               timeout: Duration = .seconds(10),
               poll: Duration = .milliseconds(20),
               _ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try condition() { return }
        if ContinuousClock.now >= deadline {
            throw WaitTimeout(description: "timed out after \(timeout) waiting for: \(what())")
        }
        sleep(for: poll)
    }
}

/// Blocks the calling thread (tests here are synchronous; this is not a readiness check).
public func sleep(for duration: Duration) {
    let (seconds, attoseconds) = duration.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

extension Duration {
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// Whole milliseconds, for printed figures.
    public var milliseconds: Int { Int((seconds * 1000).rounded()) }
}
