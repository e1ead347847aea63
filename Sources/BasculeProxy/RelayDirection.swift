/// The state of one direction of a relayed connection (client→backend or backend→client).
struct RelayDirection {
    /// Splice mode once the direction carries bulk data; nil while small messages are copied.
    /// First, so that the flags below fill the padding after it (declaration order is layout).
    var pipe: Pipe?
    /// Edge-triggered readiness, remembered until a call returns EAGAIN (or a short read
    /// proves the source drained); the next epoll event sets it again.
    var sourceReadable = false
    var destinationWritable = false
    /// The source sent FIN (a read returned 0).
    var sourceClosed = false
    /// The source's EPOLLRDHUP was seen: a short read after it is the stream's last data.
    var sourceHangupSeen = false
    /// We have shut down the destination's write side after relaying everything.
    var destinationShutDown = false
    var pipeBytes = 0
    /// Bytes read but not yet accepted by the destination (copy mode under backpressure).
    var pending: UnsafeMutableRawPointer?
    var pendingStart = 0
    var pendingEnd = 0
    var bytes: UInt64 = 0
    /// The worker's per-backend byte counter this direction adds to. Not retained: the
    /// connection holds the backend's counters, which hold this, for as long as it relays, so
    /// adding to it needs no reference counting.
    var counter: Unmanaged<ByteCounter>?

    mutating func count(_ moved: Int) {
        bytes &+= UInt64(moved)
        counter?._withUnsafeGuaranteedRef { $0.add(moved) }
    }

    var isDrained: Bool { pipeBytes == 0 && pendingStart == pendingEnd }

    /// Whether a relay call could move anything: most events concern one direction only.
    var canMove: Bool { (sourceReadable && !sourceClosed) || (destinationWritable && !isDrained) }
}

/// What a relay step ended with; a failure names the side whose call failed, so the error is
/// blamed on the right peer and the other one is told the stream was cut.
enum RelayOutcome {
    case ok
    case sourceFailed
    case destinationFailed
}
