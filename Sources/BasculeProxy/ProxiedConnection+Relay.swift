import BasculeEventLoop
import CLinux
import Glibc

/// The relay engine: moves bytes in both directions, copying small messages through the
/// worker's scratch buffer and splicing bulk data through a pooled pipe. Every event of a
/// connected pair runs through here; see the costs measured in the comments before changing it.
///
/// Every call goes through `syscall`, the one errno policy: EINTR retried, EAGAIN a value
/// (`.wouldBlock`: readiness is forgotten until the next edge), EBADF/EFAULT fatal, any
/// other errno a failure blamed on the side whose call it was. `try?` discards the error's
/// details, which only the failure path builds; the success path is the same compare and
/// branch as a hand-written `< 0` check (callgrind, see the commit).
extension ProxiedConnection {
    /// Moves whatever can move in both directions, then closes when both are finished.
    func pump() {
        lastActivity = worker.loop.nowMs
        switch relay(&up, from: client, to: backend) {
        case .ok: break
        case .sourceFailed: clientFailed(); return
        case .destinationFailed: backendFailed(); return
        }
        switch relay(&down, from: backend, to: client) {
        case .ok: break
        case .sourceFailed: backendFailed(); return
        case .destinationFailed: clientFailed(); return
        }
        let upDone = up.sourceClosed && up.isDrained
        let downDone = down.sourceClosed && down.isDrained
        if downDone && !up.sourceClosed { backendClosedFirst = true }
        if upDone && downDone {
            // close() sends the last FIN itself; a shutdown first would be a wasted call.
            finish(.completed)
            return
        }
        // Propagate a half-close: the peer learns there is no more data and can still answer
        // (a client that shuts its write side keeps receiving the response).
        if upDone && !up.destinationShutDown {
            _ = shutdown(backend, Int32(SHUT_WR))
            up.destinationShutDown = true
        }
        if downDone && !down.destinationShutDown {
            _ = shutdown(client, Int32(SHUT_WR))
            down.destinationShutDown = true
        }
    }

    /// Called right after the failed call, so errno is still its answer: ETIMEDOUT there means
    /// keepalive probes or the user timeout found the peer's host gone (a reset peer answers
    /// ECONNRESET or EPIPE).
    @inline(never)
    func clientFailed() {
        finish(errno == ETIMEDOUT ? .clientTimedOut : .clientError)
    }

    @inline(never)
    func backendFailed() {
        finish(errno == ETIMEDOUT ? .backendTimedOut : .backendError)
    }

    /// One direction; a fatal socket error (reset, broken pipe) names the side it came from.
    // Inlined into pump() as it was before it returned RelayOutcome (out of line it cost
    // ~25 instructions per keep-alive request: callgrind.sh).
    @inline(__always)
    func relay(_ direction: inout RelayDirection, from source: Int32, to destination: Int32) -> RelayOutcome {
        guard direction.canMove else { return .ok }
        if direction.pipe != nil {
            return splice(&direction, from: source, to: destination)
        }
        return copy(&direction, from: source, to: destination)
    }

    func copy(_ direction: inout RelayDirection, from source: Int32, to destination: Int32) -> RelayOutcome {
        let scratch = worker.scratch
        while true {
            if direction.pendingStart < direction.pendingEnd {
                guard direction.destinationWritable, let pending = direction.pending else { return .ok }
                let count = direction.pendingEnd - direction.pendingStart
                switch try? syscall("send", { cl_send(destination, pending + direction.pendingStart, count, Int32(MSG_NOSIGNAL)) }) {
                case .processed(let sent)?: direction.pendingStart += sent
                case .wouldBlock?: direction.destinationWritable = false; return .ok
                case nil: return .destinationFailed
                }
                if direction.pendingStart < direction.pendingEnd { direction.destinationWritable = false; return .ok }
                direction.pendingStart = 0
                direction.pendingEnd = 0
            }
            if direction.sourceClosed || !direction.sourceReadable { return .ok }

            let received: Int
            switch try? syscall("recv", { cl_recv(source, scratch.baseAddress, scratch.count, 0) }) {
            case .processed(let count)?: received = count
            case .wouldBlock?: direction.sourceReadable = false; return .ok
            case nil: return .sourceFailed
            }
            if received == 0 {
                direction.sourceClosed = true
                direction.sourceReadable = false
                return .ok
            }
            direction.count(received)
            // A short read after the peer's FIN was reported is the stream's last data, and
            // pump() shuts the destination down right after this send. MSG_MORE holds the data
            // until that FIN so both leave in one segment, which also spares the receiver one
            // ACK: up to two loopback segments fewer per closing connection, no extra call.
            var flags = Int32(MSG_NOSIGNAL)
            if _slowPath(direction.sourceHangupSeen) && received < scratch.count { flags |= Int32(MSG_MORE) }
            var sent = 0
            if direction.destinationWritable {
                switch try? syscall("send", { cl_send(destination, scratch.baseAddress, received, flags) }) {
                case .processed(let count)?: sent = count
                case .wouldBlock?: break
                case nil: return .destinationFailed
                }
            }
            if sent < received {
                direction.destinationWritable = false
                let buffer = direction.pending ?? worker.buffers.take()
                direction.pending = buffer
                (buffer).copyMemory(from: scratch.baseAddress! + sent, byteCount: received - sent)
                direction.pendingStart = 0
                direction.pendingEnd = received - sent
            }
            if received < scratch.count {
                // A TCP read shorter than asked means the receive queue is now empty. If the
                // peer's FIN was already reported (EPOLLRDHUP), nothing can follow it, so this
                // is the end of the stream: no need for the call that would return 0.
                direction.sourceReadable = false
                if direction.sourceHangupSeen { direction.sourceClosed = true }
                return .ok
            } else if direction.pendingStart == direction.pendingEnd, let pipe = worker.pipes.take() {
                // A full buffer means bulk data: from now on splice, with no copy to user space.
                direction.pipe = pipe
                if let buffer = direction.pending { worker.buffers.give(buffer); direction.pending = nil }
                return splice(&direction, from: source, to: destination)
            }
        }
    }

    func splice(_ direction: inout RelayDirection, from source: Int32, to destination: Int32) -> RelayOutcome {
        guard let pipe = direction.pipe else { return .ok }
        let capacity = worker.pipes.pipeSize
        while true {
            if direction.pipeBytes > 0 {
                guard direction.destinationWritable else { return .ok }
                switch try? syscall("splice", { cl_splice(pipe.readEnd, destination, direction.pipeBytes, 0) }) {
                case .processed(let moved)?: direction.pipeBytes -= moved
                case .wouldBlock?: direction.destinationWritable = false; return .ok
                case nil: return .destinationFailed
                }
                if direction.pipeBytes > 0 { direction.destinationWritable = false; return .ok }
            }
            if direction.sourceClosed || !direction.sourceReadable { return .ok }
            // Unlike recv, a short splice does not prove the socket is drained (the pipe can
            // run out of slots first), so this reads until EAGAIN.
            let moved: Int
            switch try? syscall("splice", { cl_splice(source, pipe.writeEnd, capacity, 0) }) {
            case .processed(let count)?:
                moved = count
            case .wouldBlock?:
                direction.sourceReadable = false
                // Drained: if nothing follows within pipeIdleMs, the timer gives the pipe
                // back. Only the splice path pays; arm() touches the wheel only when no
                // earlier deadline is set.
                if direction.pipeBytes == 0 && worker.pipes.isCrowded {
                    giveBackEmptyPipe(&direction)
                } else {
                    arm(at: lastActivity + Self.pipeIdleMs)
                }
                return .ok
            case nil:
                return .sourceFailed
            }
            if moved == 0 {
                direction.sourceClosed = true
                direction.sourceReadable = false
                return .ok
            }
            direction.pipeBytes = moved
            direction.count(moved)
        }
    }

    /// The direction goes back to copying; a later full read takes a pipe again.
    func giveBackEmptyPipe(_ direction: inout RelayDirection) {
        guard let pipe = direction.pipe, direction.pipeBytes == 0 else { return }
        worker.pipes.give(pipe, empty: true)
        direction.pipe = nil
    }
}
