import BasculeEventLoop
import Glibc

/// One timer per connection, armed at the earliest deadline: PROXY header, connect, idle,
/// and giving back a pipe gone quiet.
extension ProxiedConnection {
    func arm(at deadline: UInt64) {
        if deadline < timerArmedAt {
            timerArmedAt = deadline
            worker.loop.schedule(id, atMs: deadline)
        }
    }

    func handleTimer(nowMs: UInt64) {
        if closed { return }
        timerArmedAt = .max
        if awaitingProxyHeader {
            if nowMs >= proxyHeaderDeadline { rejectProxyHeader() } else { arm(at: proxyHeaderDeadline) }
            return
        }
        if connecting {
            if nowMs >= connectDeadline {
                connectFailed(errno: ETIMEDOUT)
            } else {
                arm(at: connectDeadline)
            }
            return
        }
        let idleDeadline = lastActivity + service.idleTimeoutMs
        if nowMs >= idleDeadline {
            finish(.idleTimeout)
            return
        }
        if up.pipe != nil || down.pipe != nil {
            if nowMs &- lastActivity >= Self.pipeIdleMs {
                giveBackEmptyPipe(&up)
                giveBackEmptyPipe(&down)
            }
            // A pipe still holding bytes waits for its destination; look again later.
            if up.pipe != nil || down.pipe != nil { arm(at: max(lastActivity, nowMs) + Self.pipeIdleMs) }
        }
        arm(at: idleDeadline)
    }
}
