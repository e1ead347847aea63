import BasculeEventLoop

/// How many checks may start in one turn of the control loop. Checks share the loop with the
/// admin endpoint, the tables and the signals: however many probes come due together (a
/// reload that adds thousands of backends, a loop that was held up), a turn starts at most
/// `perTurn` of them. The others wait in line, first come first started, and start in the
/// turns that follow (a wheel tick apart): the loop gets back to its other work within a
/// bounded time, no probe is passed over for long, and probes bunched together spread again.
final class CheckStartBudget: EventHandler {
    /// A start costs a socket and a connect (tens of microseconds, more with TLS to come):
    /// 64 keeps a turn's checks to a few milliseconds and still allows thousands a second.
    static let defaultPerTurn = 64

    let perTurn: Int
    private unowned let loop: EventLoop
    private var id = HandlerID.unregistered
    private var turn: UInt64 = .max
    private var used = 0
    /// Probes due but not started yet, oldest first (`head` is the next one).
    private var waiting: [BackendProbe] = []
    private var head = 0
    private var timerAt: UInt64 = .max
    /// Starts put off to a later turn since the monitor started.
    private(set) var deferred = 0

    init(loop: EventLoop, perTurn: Int = CheckStartBudget.defaultPerTurn) {
        self.loop = loop
        self.perTurn = perTurn
        id = loop.register(self)
    }

    /// True when `probe` may start now. False when this turn's share is spent or others wait
    /// already: the probe is queued, and `startWaiting` is called when its turn comes.
    func request(_ probe: BackendProbe) -> Bool {
        // Stopped: nothing would start a queued probe, so nothing is held back.
        guard id != .unregistered else { return true }
        newTurnIfNeeded()
        if head == waiting.count && used < perTurn {
            used += 1
            return true
        }
        waiting.append(probe)
        deferred += 1
        arm()
        return false
    }

    /// Forgets the queue (the monitor stops) and leaves the loop.
    func stop() {
        waiting.removeAll()
        head = 0
        loop.unregister(id)
        id = .unregistered
    }

    func handleEvent(_ events: EpollEvents, tag: UInt8) {}

    func handleTimer(nowMs: UInt64) {
        guard nowMs >= timerAt else { return }
        timerAt = .max
        newTurnIfNeeded()
        while used < perTurn && head < waiting.count {
            let probe = waiting[head]
            head += 1
            used += 1
            probe.startWaiting(nowMs: nowMs)
        }
        if head == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            head = 0
        } else {
            arm()
        }
    }

    private func newTurnIfNeeded() {
        if turn != loop.turn {
            turn = loop.turn
            used = 0
        }
    }

    private func arm() {
        guard timerAt == .max, id != .unregistered else { return }
        timerAt = loop.nowMs + 1
        loop.schedule(id, atMs: timerAt)
    }
}
