/// Turns a stream of check results into up/down transitions: `fall` consecutive failures take
/// an up backend down, `rise` consecutive successes bring a down one back. The thresholds live
/// here, with the check, so the balancer only ever sees decided states (HAProxy's model).
struct RiseFallCounter: Sendable, Equatable {
    let rise: Int
    let fall: Int
    /// Backends start up: that is the balancer's initial state, so nothing is reported until
    /// the checks disagree with it.
    private(set) var isUp = true
    private(set) var consecutiveSuccesses = 0
    private(set) var consecutiveFailures = 0

    init(rise: Int, fall: Int) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
    }

    /// Counts one result; returns the new state when this result changes it.
    mutating func record(success: Bool) -> Bool? {
        if success {
            consecutiveSuccesses += 1
            consecutiveFailures = 0
            if !isUp && consecutiveSuccesses >= rise {
                isUp = true
                return true
            }
        } else {
            consecutiveFailures += 1
            consecutiveSuccesses = 0
            if isUp && consecutiveFailures >= fall {
                isUp = false
                return false
            }
        }
        return nil
    }

    /// "(2/2)": how far the streak that caused a transition went against its threshold.
    var progress: String {
        isUp ? "(\(consecutiveSuccesses)/\(rise))" : "(\(consecutiveFailures)/\(fall))"
    }

    /// Something else (the passive check on client traffic) took the backend down; it now
    /// needs `rise` good checks like any other down backend.
    mutating func forceDown() {
        isUp = false
        consecutiveSuccesses = 0
    }
}
