import BasculeEventLoop

/// The control thread's line to every worker: the registry publishes tables through it, the
/// reload adds and removes services, the lifecycle stops and closes. Empty until the workers
/// start; what is posted before that is already in the tables they start with.
final class WorkerMailboxes {
    private(set) var all: [Mailbox<WorkerMessage>] = []

    func add(_ mailbox: Mailbox<WorkerMessage>) {
        all.append(mailbox)
    }

    func broadcast(_ message: WorkerMessage) {
        for mailbox in all { mailbox.post(message) }
    }
}
