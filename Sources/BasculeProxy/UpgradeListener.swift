import BasculeConfig
import BasculeEventLoop
import BasculePosix
import Glibc
import Logging

/// The running process's side of a binary upgrade, on the control loop: it listens on the
/// upgrade socket, gives a successor every listening socket (`HandoverMessage`), and once the
/// successor says it serves, tells the controller to stop accepting and drain. One handover at
/// a time; until the successor serves, nothing changes here, so a successor that fails leaves
/// this process serving as before. `bascule upgrade` can also ask it to start the successor
/// (`spawn`), so that the new process is born inside the service's cgroup and sandbox.
final class UpgradeListener: EventHandler {
    private enum Tag: UInt8 {
        case listener = 0
        case session = 1
        case requester = 2
    }

    let path: String
    private var fd: Int32
    private var identity: (device: UInt64, inode: UInt64)?
    private unowned let controller: ProxyController
    private var id = HandlerID.unregistered
    /// The connection a handover runs on; after `serving`, kept for the `drained` message.
    private(set) var session: Int32 = -1
    private var sessionPeer: pid_t = 0
    private var offered = false
    /// A `bascule upgrade` waiting to hear how the handover it asked for ended.
    private var requester: Int32 = -1
    private var spawnedChild: pid_t = 0
    private var deadlineMs: UInt64 = .max
    private var handedOver = false

    /// How long a successor may take from the offer to serving, and a requester from the spawn
    /// to the end of the handover: a new process loads its file, binds new addresses and starts
    /// its workers in well under a second; this bounds a stuck one.
    static let successorTimeoutMs: UInt64 = 30_000
    static let requestTimeoutMs: UInt64 = 5_000

    init(path: String, controller: ProxyController) throws(SystemError) {
        self.path = path
        self.controller = controller
        fd = try UnixSocket.listen(path: path)
        identity = UnixSocket.identity(of: path)
        id = controller.loop.register(self)
        do {
            try controller.loop.watch(fd, events: [.readable, .edgeTriggered], handler: id, tag: Tag.listener.rawValue)
        } catch {
            controller.loop.unregister(id)
            closeDescriptor(fd)
            throw error
        }
    }

    var log: Logger { controller.log }

    /// At exit. After a handover the path belongs to the successor and stays; otherwise it is
    /// removed, unless someone else has bound it since.
    func close(drained: (drainMs: Int, timedOut: Bool)?) {
        if session >= 0, handedOver, let drained {
            UnixSocket.send(session, HandoverMessage.drained(drainMs: drained.drainMs, timedOut: drained.timedOut).encoded)
        }
        closeListener()
        if session >= 0 { closeDescriptor(session) }
        if requester >= 0 { closeDescriptor(requester) }
        session = -1
        requester = -1
        controller.loop.unregister(id)
    }

    private func closeListener() {
        guard fd >= 0 else { return }
        controller.loop.unwatch(fd)
        closeDescriptor(fd)
        fd = -1
        if !handedOver, let identity, let now = UnixSocket.identity(of: path), now == identity {
            unlink(path)
        }
    }

    func handleEvent(_ events: EpollEvents, tag: UInt8) {
        switch Tag(rawValue: tag) {
        case .listener: acceptPending()
        case .session: readSession()
        case .requester: readRequester()
        case nil: break
        }
    }

    func handleTimer(nowMs: UInt64) {
        reapSpawnedChild()
        guard deadlineMs != .max else { return }
        if nowMs >= deadlineMs {
            if session >= 0 && !handedOver {
                fail(offered ? "the successor did not start serving within \(Self.successorTimeoutMs) ms"
                             : "the connecting process sent no request in time")
            } else if requester >= 0 {
                answerRequester(.refused("no successor took over within \(Self.successorTimeoutMs) ms"))
            }
            deadlineMs = .max
        } else {
            controller.loop.schedule(id, atMs: min(deadlineMs, nowMs + 200))
        }
    }

    // MARK: Accepting

    private func acceptPending() {
        while fd >= 0 {
            let client: Int32?
            do {
                client = try UnixSocket.accept(fd)
            } catch {
                log.error("upgrade socket: accept failed", metadata: ["path": "\(path)", "error": "\(error)"])
                return
            }
            guard let client else { return }
            // The socket is 0600, so only this user (or root) can connect; the kernel's record
            // of the peer says so again, whatever the directory's permissions.
            guard let peer = UnixSocket.peer(client), peer.uid == getuid() || peer.uid == 0 else {
                refuse(client, "only the user bascule runs as, or root, may take it over")
                continue
            }
            if controller.draining {
                refuse(client, "this process is draining and has nothing to hand over")
            } else if session >= 0 {
                refuse(client, "a handover is already in progress (pid \(sessionPeer))")
            } else {
                session = client
                sessionPeer = peer.pid
                offered = false
                do {
                    try controller.loop.watch(client, events: [.readable, .readHangup, .edgeTriggered], handler: id,
                                              tag: Tag.session.rawValue)
                } catch {
                    refuse(client, "cannot watch the connection: \(error.reason)")
                    session = -1
                    continue
                }
                arm(Self.requestTimeoutMs)
            }
        }
    }

    private func refuse(_ client: Int32, _ reason: String) {
        log.warning("upgrade socket: refused a connection", metadata: ["reason": "\(reason)"])
        UnixSocket.send(client, HandoverMessage.refused(reason).encoded)
        closeDescriptor(client)
    }

    private func arm(_ timeoutMs: UInt64) {
        deadlineMs = controller.loop.nowMs + timeoutMs
        controller.loop.schedule(id, atMs: deadlineMs)
    }

    // MARK: The handover

    private func readSession() {
        while session >= 0 {
            let message: [UInt8]
            do {
                guard case .processed(let bytes) = try UnixSocket.receive(session) else { return }
                message = bytes
            } catch {
                return sessionEnded("the connection failed: \(error.reason)")
            }
            if message.isEmpty { return sessionEnded("the successor closed the connection before serving") }
            switch HandoverMessage(message) {
            case .takeover(let pid, let version)? where !offered:
                offer(to: pid, version: version)
            case .spawn(let executable)? where !offered:
                spawn(executable)
            case .serving(let pid, let adminTaken)? where offered && !handedOver:
                handOver(to: pid, adminTaken: adminTaken)
            default:
                fail("unexpected message on the upgrade socket")
            }
        }
    }

    private func offer(to pid: Int32, version: String) {
        let inventory = controller.handoverInventory()
        var descriptors: [Int32] = []
        if let admin = inventory.admin { descriptors.append(admin.fd) }
        for group in inventory.groups { descriptors += group.fds }
        let chunks = stride(from: 0, to: descriptors.count, by: DescriptorPassing.maximumPerMessage).map {
            Array(descriptors[$0..<min($0 + DescriptorPassing.maximumPerMessage, descriptors.count)])
        }
        let header = HandoverMessage.offer(pid: getpid(), version: BasculeVersion.string, admin: inventory.admin.map { "\($0.listen)" },
                                           groups: inventory.groups.map { .init(listen: "\($0.listen)", count: $0.fds.count) },
                                           descriptorMessages: chunks.count)
        // The messages are small and the socket's buffer is empty: they go at once or the
        // connection is unusable, so a non-blocking send is enough.
        do {
            try DescriptorPassing.send(session, bytes: Array(header.encoded.utf8), descriptors: [])
            for chunk in chunks { try DescriptorPassing.send(session, bytes: [UInt8(ascii: "F")], descriptors: chunk) }
        } catch {
            return fail("could not send the listening sockets: \(error.reason)")
        }
        offered = true
        controller.handover.offered(to: pid, version: version)
        arm(Self.successorTimeoutMs)
        log.notice("handover: listening sockets sent to the successor; serving on until it says it serves", metadata: [
            "successorPid": "\(pid)", "successorVersion": "\(version)", "sockets": "\(descriptors.count)",
        ])
    }

    private func handOver(to pid: Int32, adminTaken: Bool) {
        handedOver = true
        deadlineMs = .max
        controller.handover.successorServing()
        // The path is the successor's now (it renames its own socket over it): stop listening
        // but leave it in place.
        closeListener()
        if requester >= 0 { answerRequester(.handedOver(pid: pid)) }
        log.notice("handover: the successor serves; no new connections here, draining the open ones", metadata: [
            "successorPid": "\(pid)", "takeoverMs": "\(controller.handover.takeoverMs ?? 0)", "adminTaken": "\(adminTaken)",
        ])
        controller.handedOver(adminTaken: adminTaken)
    }

    private func sessionEnded(_ reason: String) {
        if handedOver {
            // The successor went away after serving (it was stopped, or crashed): nothing to
            // undo here, this process drains and exits either way.
            controller.loop.unwatch(session)
            closeDescriptor(session)
            session = -1
            return
        }
        if offered { return fail(reason) }
        // A `bascule upgrade` request, or a connection that said nothing: no handover began.
        closeSession()
    }

    private func fail(_ reason: String) {
        log.error("handover failed; this process serves on as before", metadata: ["reason": "\(reason)"])
        if offered { controller.handover.failed(reason) }
        if requester >= 0 { answerRequester(.refused(reason)) }
        closeSession()
    }

    private func closeSession() {
        guard session >= 0 else { return }
        UnixSocket.send(session, HandoverMessage.refused("handover abandoned").encoded)
        controller.loop.unwatch(session)
        closeDescriptor(session)
        session = -1
        offered = false
        deadlineMs = requester >= 0 ? deadlineMs : .max
    }

    // MARK: Spawning the successor (`bascule upgrade`)

    /// The session becomes the requester's line; the successor connects anew.
    private func spawn(_ executable: String) {
        guard requester < 0, spawnedChild == 0, let arguments = controller.successorArguments else {
            return fail(controller.successorArguments == nil ? "this process was not started by `bascule run`" : "an upgrade is already under way")
        }
        requester = session
        session = -1
        controller.loop.unwatch(requester)
        do {
            try controller.loop.watch(requester, events: [.readable, .readHangup, .edgeTriggered], handler: id,
                                      tag: Tag.requester.rawValue)
        } catch {
            return answerRequester(.refused("cannot watch the connection: \(error.reason)"))
        }
        switch SuccessorProcess.spawn(executable: executable, arguments: arguments) {
        case .success(let pid):
            spawnedChild = pid
            log.notice("upgrade: started the successor", metadata: ["pid": "\(pid)", "executable": "\(executable)"])
            arm(Self.successorTimeoutMs)
        case .failure(let error):
            answerRequester(.refused("cannot start \(executable): \(error.reason)"))
        }
    }

    private func readRequester() {
        guard requester >= 0 else { return }
        // The requester says nothing more; readable means it went away (^C on `bascule upgrade`).
        if case .processed(let bytes)? = try? UnixSocket.receive(requester), bytes.isEmpty {
            controller.loop.unwatch(requester)
            closeDescriptor(requester)
            requester = -1
        }
    }

    private func answerRequester(_ answer: HandoverMessage) {
        guard requester >= 0 else { return }
        UnixSocket.send(requester, answer.encoded)
        controller.loop.unwatch(requester)
        closeDescriptor(requester)
        requester = -1
        if session < 0 { deadlineMs = .max }
    }

    /// A successor that failed exits; reaped here so it does not linger as a zombie. One that
    /// took over outlives this process and is adopted by init (or systemd).
    private func reapSpawnedChild() {
        guard spawnedChild > 0 else { return }
        var status: Int32 = 0
        if waitpid(spawnedChild, &status, WNOHANG) == spawnedChild {
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            spawnedChild = 0
            if !handedOver {
                answerRequester(.refused("the successor exited with status \(code) before serving (see its log)"))
            }
        } else if !handedOver {
            controller.loop.schedule(id, atMs: controller.loop.nowMs + 200)
        }
    }
}
