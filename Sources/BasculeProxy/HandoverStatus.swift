import CLinux

/// Where this process stands in a binary upgrade, for /status and /metrics. A process that
/// hands over is the `old` one until it exits; its successor is the `new` one until the next
/// upgrade. Only the control thread touches it.
public final class HandoverStatus {
    public enum Role: String, Sendable {
        /// No handover has happened in this process's life (yet).
        case none
        case old
        case new
    }

    public enum State: String, Sendable {
        /// No upgrade socket: this process cannot be taken over.
        case disabled
        /// Listening on the upgrade socket for a successor.
        case ready
        /// Old: the sockets went out; waiting for the successor to serve on them.
        case offered
        /// Old: the successor serves; this process accepts nothing and drains.
        case draining
        /// New: received the sockets, starting the workers.
        case starting
        /// New: serving; the old process still drains its connections.
        case serving
        /// New: the old process has finished and exited.
        case complete
        /// The last attempt failed; this process serves on as before.
        case failed
    }

    public private(set) var role = Role.none
    public private(set) var state = State.disabled
    public private(set) var changedAtMs = HandoverStatus.nowMs
    public private(set) var peerPid: Int32?
    public private(set) var peerVersion: String?
    public internal(set) var upgradeSocket: String?
    /// Handovers this process took part in, by outcome: as the process handing over (`old`:
    /// its successor served, or did not) and as the one taking over (`new`).
    public private(set) var handedOver = 0
    public private(set) var handOverFailed = 0
    public private(set) var tookOver = 0
    public private(set) var takeOverFailed = 0
    public var succeeded: Int { handedOver + tookOver }
    public var failed: Int { handOverFailed + takeOverFailed }
    public private(set) var lastFailure: String?
    /// New: from the connect to the upgrade socket to serving. Old: from the offer to the
    /// successor's `serving`.
    public private(set) var takeoverMs: Int?
    /// How long the old process drained after the successor began serving (new: as the old
    /// one reported when it finished).
    public private(set) var drainMs: Int?
    public private(set) var drainTimedOut = false
    private var offeredAtMs: UInt64 = 0
    /// A failed handover leaves this process what it was (and serving).
    private var roleBeforeOffer = Role.none

    public var secondsInState: Double { Double(Self.nowMs &- changedAtMs) / 1000 }

    /// CLOCK_MONOTONIC in ms: the loop's coarse clock is too coarse for handover figures.
    static var nowMs: UInt64 { cl_monotonic_ns() / 1_000_000 }

    private func enter(_ next: State) {
        state = next
        changedAtMs = Self.nowMs
    }

    func listening(on path: String) {
        upgradeSocket = path
        if role == .none || state == .failed { enter(.ready) }
    }

    func offered(to pid: Int32, version: String) {
        roleBeforeOffer = role
        role = .old
        peerPid = pid
        peerVersion = version
        offeredAtMs = Self.nowMs
        takeoverMs = nil
        enter(.offered)
    }

    func successorServing() {
        takeoverMs = Int(Self.nowMs &- offeredAtMs)
        handedOver += 1
        enter(.draining)
    }

    func oldFinished(drainMs: Int, timedOut: Bool) {
        self.drainMs = drainMs
        drainTimedOut = timedOut
    }

    func receivedSockets(from pid: Int32, version: String) {
        role = .new
        peerPid = pid
        peerVersion = version
        enter(.starting)
    }

    func serving(startedAtMs: UInt64) {
        takeoverMs = Int(Self.nowMs &- startedAtMs)
        tookOver += 1
        enter(.serving)
    }

    func peerDrained(drainMs: Int?, timedOut: Bool) {
        self.drainMs = drainMs
        drainTimedOut = timedOut
        enter(.complete)
    }

    func failed(_ reason: String) {
        if role == .new {
            takeOverFailed += 1
        } else {
            handOverFailed += 1
            role = roleBeforeOffer
        }
        lastFailure = reason
        enter(.failed)
    }
}
