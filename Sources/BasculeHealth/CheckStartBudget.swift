import BasculeEventLoop

/// How many checks may start in one turn of the control loop. Checks share the loop with the
/// admin endpoint, the tables and the signals: however many probes come due together (a
/// reload that adds thousands of backends, a loop that was held up), a turn starts at most
/// `perTurn` of them, and the rest start in the turns that follow, a wheel tick later. The
/// loop gets back to its other work within a bounded time, and probes bunched together are
/// spread again.
final class CheckStartBudget {
    /// A start costs a socket and a connect (tens of microseconds, more with TLS to come):
    /// 64 keeps a turn's checks to a few milliseconds, and still allows thousands a second.
    static let defaultPerTurn = 64

    let perTurn: Int
    private unowned let loop: EventLoop
    private var turn: UInt64 = .max
    private var used = 0
    /// Starts put off to a later turn since the monitor started.
    private(set) var deferred = 0

    init(loop: EventLoop, perTurn: Int = CheckStartBudget.defaultPerTurn) {
        self.loop = loop
        self.perTurn = perTurn
    }

    /// True when a check may start now; false when this turn's share is spent.
    func take() -> Bool {
        if turn != loop.turn {
            turn = loop.turn
            used = 0
        }
        guard used < perTurn else {
            deferred += 1
            return false
        }
        used += 1
        return true
    }
}
