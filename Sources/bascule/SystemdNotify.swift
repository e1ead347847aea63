import BasculePosix
import Glibc

/// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. The unit is Type=notify
/// so that a process that takes over can tell systemd it is the main process now (MAINPID=,
/// which needs NotifyAccess=all: the new process is not the one systemd started).
enum SystemdNotify {
    static func send(_ state: String) {
        guard let socket = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !socket.isEmpty else { return }
        UnixSocket.sendDatagram(to: socket, state)
    }

    static func ready(takingOver: Bool) {
        send(takingOver ? "MAINPID=\(getpid())\nREADY=1\nSTATUS=serving (took over)" : "READY=1\nSTATUS=serving")
    }
}
