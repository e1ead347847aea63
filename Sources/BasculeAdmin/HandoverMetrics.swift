import BasculeConfig
import BasculeProxy

/// The binary upgrade as /status and /metrics show it: this process's role and state, the
/// process on the other side, and how long the takeover and the old process's drain took.
enum HandoverMetrics {
    static func status(_ handover: HandoverStatus) -> JSONValue {
        .object([
            ("role", .string(handover.role.rawValue)),
            ("state", .string(handover.state.rawValue)),
            ("secondsInState", .double(handover.secondsInState)),
            ("upgradeSocket", handover.upgradeSocket.map { .string($0) } ?? .null),
            ("peerPid", handover.peerPid.map { .int(Int($0)) } ?? .null),
            ("peerVersion", handover.peerVersion.map { .string($0) } ?? .null),
            ("takeoverMs", handover.takeoverMs.map { .int($0) } ?? .null),
            ("oldDrainMs", handover.drainMs.map { .int($0) } ?? .null),
            ("oldDrainTimedOut", .bool(handover.drainTimedOut)),
            ("succeeded", .int(handover.succeeded)),
            ("failed", .int(handover.failed)),
            ("lastFailure", handover.lastFailure.map { .string($0) } ?? .null),
        ])
    }

    static func render(_ handover: HandoverStatus) -> String {
        var total = MetricFamily(name: "bascule_handovers_total",
                                 help: "Binary-upgrade handovers this process took part in, as the old or the new process, by result.",
                                 type: .counter)
        total.add(handover.handedOver, [("role", "old"), ("result", "success")])
        total.add(handover.handOverFailed, [("role", "old"), ("result", "failed")])
        total.add(handover.tookOver, [("role", "new"), ("result", "success")])
        total.add(handover.takeOverFailed, [("role", "new"), ("result", "failed")])
        var inProgress = MetricFamily(name: "bascule_handover_in_progress",
                                      help: "1 from the offer of the listening sockets until the old process has drained.", type: .gauge)
        let busy: Set<HandoverStatus.State> = [.offered, .draining, .starting, .serving]
        inProgress.add(busy.contains(handover.state) ? 1 : 0)
        var takeover = MetricFamily(name: "bascule_handover_takeover_seconds",
                                    help: "The last handover (0 before any): from the successor's connect (new) or the offer (old) to the successor serving.",
                                    type: .gauge)
        takeover.add(Double(handover.takeoverMs ?? 0) / 1000)
        var drain = MetricFamily(name: "bascule_handover_old_drain_seconds",
                                 help: "The last handover (0 before any): how long the old process drained after the successor began serving.", type: .gauge)
        drain.add(Double(handover.drainMs ?? 0) / 1000)
        return total.rendered + inProgress.rendered + takeover.rendered + drain.rendered
    }
}
