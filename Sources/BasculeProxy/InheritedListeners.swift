import BasculeConfig
import BasculePosix
import Glibc
import Logging

/// The listening sockets a new process received from the one it takes over from, by listen
/// address, and the open line to that process. Each address's sockets are taken once, by the
/// service (or the address routed by server name) that listens there now; what no one takes
/// is closed when the new process is serving, so the old one's close really closes it.
public final class InheritedListeners {
    /// The process being replaced.
    public let peerPid: Int32
    public let peerVersion: String
    /// The upgrade connection, kept open: `serving` goes out on it, `drained` comes back.
    let session: Int32
    private var groups: [Endpoint: [Int32]]
    private(set) var admin: (listen: Endpoint, fd: Int32)?
    /// Whether the admin server took the admin socket (`takeAdmin`).
    private(set) var adminWasTaken = false
    /// When the connect to the upgrade socket began (CLOCK_MONOTONIC, ms).
    let startedAtMs: UInt64

    init(peerPid: Int32, peerVersion: String, session: Int32, groups: [Endpoint: [Int32]],
         admin: (listen: Endpoint, fd: Int32)?, startedAtMs: UInt64) {
        self.peerPid = peerPid
        self.peerVersion = peerVersion
        self.session = session
        self.groups = groups
        self.admin = admin
        self.startedAtMs = startedAtMs
    }

    /// Every socket received for `listen` (none when the old process did not listen there).
    func take(_ listen: Endpoint) -> [Int32] {
        groups.removeValue(forKey: listen) ?? []
    }

    /// The admin socket, when the old process listened on `listen` too (else it is closed and
    /// the new process opens its own).
    public func takeAdmin(_ listen: Endpoint) -> Int32? {
        guard let admin else { return nil }
        self.admin = nil
        if admin.listen == listen {
            adminWasTaken = true
            return admin.fd
        }
        closeDescriptor(admin.fd)
        return nil
    }

    /// Closes what no service took: addresses the new configuration no longer has.
    func closeUntaken(log: Logger) -> [Endpoint] {
        let untaken = Array(groups.keys)
        for (listen, fds) in groups {
            log.notice("takeover: the new configuration does not listen on this address; closing it once the old process stops",
                       metadata: ["listen": "\(listen)", "sockets": "\(fds.count)"])
            fds.forEach(closeDescriptor)
        }
        groups = [:]
        if let admin { closeDescriptor(admin.fd) }
        admin = nil
        return untaken
    }

    /// Connects to the running process's upgrade socket and receives its listening sockets.
    /// Blocking and bounded (`timeoutSeconds` per call): it runs before anything is started.
    public static func receive(from path: String, timeoutSeconds: Double = 10, log: Logger) throws -> InheritedListeners {
        let startedAtMs = HandoverStatus.nowMs
        let session: Int32
        do {
            session = try UnixSocket.connect(path: path, timeoutSeconds: timeoutSeconds)
        } catch {
            throw StartupError(description: "takeover: cannot reach a running bascule at \(path): \(error.reason)")
        }
        var received: [Int32] = []
        do {
            guard UnixSocket.send(session, HandoverMessage.takeover(pid: getpid(), version: BasculeVersion.string).encoded) else {
                throw StartupError(description: "takeover: \(path): the running process closed the connection")
            }
            let first = try DescriptorPassing.receive(session, maxDescriptors: 0)
            guard let offer = HandoverMessage(first.bytes) else {
                throw StartupError(description: "takeover: \(path): unexpected answer from the running process")
            }
            guard case .offer(let pid, let version, let adminText, let groupList, let messages) = offer else {
                if case .refused(let reason) = offer { throw StartupError(description: "takeover refused by the running process: \(reason)") }
                throw StartupError(description: "takeover: \(path): unexpected answer from the running process")
            }
            for _ in 0..<messages {
                let part = try DescriptorPassing.receive(session)
                guard !part.bytes.isEmpty else { throw StartupError(description: "takeover: the running process closed the connection midway") }
                received += part.descriptors
            }
            let expected = groupList.reduce(adminText == nil ? 0 : 1) { $0 + $1.count }
            guard received.count == expected else {
                throw StartupError(description: "takeover: expected \(expected) sockets, received \(received.count)")
            }
            var cursor = 0
            var admin: (listen: Endpoint, fd: Int32)?
            if let adminText {
                guard let listen = Endpoint(parsing: adminText, allowsPortZero: true) else {
                    throw StartupError(description: "takeover: unreadable admin address \(adminText)")
                }
                admin = (listen, received[0])
                cursor = 1
            }
            var groups: [Endpoint: [Int32]] = [:]
            for group in groupList {
                guard let listen = Endpoint(parsing: group.listen, allowsPortZero: true) else {
                    throw StartupError(description: "takeover: unreadable listen address \(group.listen)")
                }
                groups[listen, default: []] += received[cursor..<(cursor + group.count)]
                cursor += group.count
            }
            log.notice("takeover: received the listening sockets of the running process", metadata: [
                "peerPid": "\(pid)", "peerVersion": "\(version)", "addresses": "\(groups.count)",
                "sockets": "\(received.count)", "admin": "\(adminText ?? "none")",
            ])
            return InheritedListeners(peerPid: pid, peerVersion: version, session: session, groups: groups, admin: admin,
                                      startedAtMs: startedAtMs)
        } catch let error as StartupError {
            received.forEach(closeDescriptor)
            closeDescriptor(session)
            throw error
        } catch let error as SystemError {
            received.forEach(closeDescriptor)
            closeDescriptor(session)
            throw StartupError(description: "takeover: \(path): \(error.isTimeout ? "the running process did not answer in time" : error.reason)")
        }
    }
}
