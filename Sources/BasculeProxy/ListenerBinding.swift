import BasculeConfig
import BasculeEventLoop
import Glibc
import Logging

/// The listening sockets of one service, used at start and by a reload that adds a service.
enum ListenerBinding {
    /// One listening socket per worker, all bound before any is used, so a port in use fails
    /// the start (or the reload) as a whole with the service and address named.
    static func bind(_ service: ServiceConfig, workers: Int, log: Logger) throws -> [Int32] {
        let address = SocketAddress(service.listen)
        var fds: [Int32] = []
        do {
            for _ in 0..<workers {
                let fd = try SocketCalls.listener(on: address)
                fds.append(fd)
                let keepAlive = service.keepAlive
                if keepAlive.isEnabled {
                    try SocketCalls.setListenerKeepAlive(fd, idleSeconds: Int32(keepAlive.idleSeconds),
                                                         intervalSeconds: Int32(keepAlive.intervalSeconds),
                                                         count: Int32(keepAlive.count))
                }
            }
        } catch {
            fds.forEach(closeDescriptor)
            throw StartupError(description: "service \(service.name): cannot listen on \(service.listen): \(error.reason)")
        }
        if !SocketCalls.isHeldLocally(address) {
            log.notice("listening on an address this host does not hold yet (FREEBIND): clients arrive once it is assigned here, as keepalived or BGP would",
                       metadata: ["service": "\(service.name)", "listen": "\(service.listen)"])
        }
        return fds
    }

    /// Each worker's sockets on the service's address at start. Sockets received from the
    /// process being taken over come first: they keep the address, its SO_REUSEPORT group and
    /// the connections already queued. With more workers than sockets received, the rest are
    /// bound fresh and join the same group. With fewer, a surplus socket cannot just be closed:
    /// the kernel would reset the connections in its queue, and it keeps getting its share of
    /// new ones until it is closed. So the surplus is served too, spread over the workers,
    /// unless `net.ipv4.tcp_migrate_req` is 1 here: then closing it moves its queue to another
    /// socket of the group and the group shrinks to one socket per worker.
    static func sockets(_ service: ServiceConfig, workers: Int, inheriting inherited: [Int32], log: Logger) throws -> [[Int32]] {
        var kept = inherited
        if inherited.count > workers && migratesQueuedConnections {
            inherited[workers...].forEach(closeDescriptor)
            kept = Array(inherited[..<workers])
            log.notice("takeover: fewer workers; closing the surplus sockets, the kernel moves their queued connections (tcp_migrate_req)",
                       metadata: ["listen": "\(service.listen)", "closed": "\(inherited.count - workers)"])
        } else if inherited.count > workers {
            log.notice("takeover: fewer workers than sockets received; the surplus stays open, served by the workers (set net.ipv4.tcp_migrate_req=1 to close it without resetting queued connections)",
                       metadata: ["listen": "\(service.listen)", "sockets": "\(inherited.count)", "workers": "\(workers)"])
        }
        var perWorker = [[Int32]](repeating: [], count: workers)
        for (position, fd) in kept.enumerated() { perWorker[position % workers].append(fd) }
        do {
            for fd in kept { try applyOptions(service, to: fd) }
            if kept.count < workers {
                let fresh = try bind(service, workers: workers - kept.count, log: log)
                for (offset, fd) in fresh.enumerated() { perWorker[kept.count + offset].append(fd) }
            }
        } catch let error as SystemError {
            kept.forEach(closeDescriptor)
            throw StartupError(description: "service \(service.name): cannot take over \(service.listen): \(error.reason)")
        } catch {
            kept.forEach(closeDescriptor)
            throw error
        }
        return perWorker
    }

    /// A received socket keeps the options of the process that made it; the new file's
    /// keepalive settings may differ.
    private static func applyOptions(_ service: ServiceConfig, to fd: Int32) throws(SystemError) {
        let keepAlive = service.keepAlive
        if keepAlive.isEnabled {
            try SocketCalls.setListenerKeepAlive(fd, idleSeconds: Int32(keepAlive.idleSeconds),
                                                 intervalSeconds: Int32(keepAlive.intervalSeconds), count: Int32(keepAlive.count))
        } else {
            try SocketCalls.setOption(fd, SOL_SOCKET, SO_KEEPALIVE, 0, "setsockopt(SO_KEEPALIVE)")
        }
    }

    /// net.ipv4.tcp_migrate_req of this network namespace (Linux 5.14+; absent reads as off).
    static var migratesQueuedConnections: Bool {
        let fd = open("/proc/sys/net/ipv4/tcp_migrate_req", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { closeDescriptor(fd) }
        var byte: UInt8 = 0
        return read(fd, &byte, 1) == 1 && byte == UInt8(ascii: "1")
    }
}
