import BasculeConfig

/// Every listening socket the workers serve, by listen address, as the control thread knows
/// them: what a handover passes to the successor. The workers own and close the descriptors;
/// this only records which ones are current, kept in step by the start and by each reload
/// (a removed service's sockets leave here before its workers close them, so a number the
/// kernel hands out again is never passed on).
final class ListenerInventory {
    private(set) var groups: [(listen: Endpoint, fds: [Int32])] = []

    func record(_ listen: Endpoint, _ fds: [Int32]) {
        release(listen)
        groups.append((listen, fds.filter { $0 >= 0 }))
    }

    func release(_ listen: Endpoint) {
        groups.removeAll { $0.listen == listen }
    }
}

/// What the running process offers its successor.
struct HandoverInventory {
    let admin: (listen: Endpoint, fd: Int32)?
    let groups: [(listen: Endpoint, fds: [Int32])]
}
