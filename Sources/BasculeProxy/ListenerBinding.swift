import BasculeConfig
import BasculeEventLoop
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
}
