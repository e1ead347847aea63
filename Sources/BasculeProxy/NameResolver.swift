import BasculeConfig
import BasculeEventLoop
import BasculePosix
import Glibc
import Logging

/// Follows host names on the control loop without ever waiting on the DNS there: a due name
/// is posted to the resolver thread, which may block in the system's resolver for as long as
/// resolv.conf's timeouts say, and posts the answer back to the loop's mailbox. One thread,
/// one query at a time: names are few, and a slow server then delays other names rather than
/// piling up threads.
public final class NameResolver: EventHandler {
    enum Request: Sendable {
        case resolve(HostName)
        case stop
    }

    struct Reply: Sendable {
        let host: HostName
        let result: Result<NameAnswer, ResolutionFailure>
    }

    public private(set) var names: [HostName: ResolvedName] = [:]
    var settings: DNSSettings
    /// Told on the control loop after a name's addresses changed.
    var onChange: ((ResolvedName) -> Void)?
    private var inFlight: Set<HostName> = []
    private let requests: Mailbox<Request>
    private let replies: Mailbox<Reply>
    private var receiver: MailboxReceiver<Reply>?
    private let source: any AddressSource
    private let loop: EventLoop
    private let log: Logger
    private var id = HandlerID.unregistered
    private var timerAtMs: UInt64 = .max

    public init(loop: EventLoop, source: any AddressSource, settings: DNSSettings, log: Logger) throws(SystemError) {
        self.loop = loop
        self.source = source
        self.settings = settings
        self.log = log
        requests = try Mailbox()
        replies = try Mailbox()
        id = loop.register(self)
        receiver = try MailboxReceiver(replies, on: loop) { [unowned self] reply in
            self.receive(reply)
        }
        let requests = self.requests
        let replies = self.replies
        // Detached: a query stuck in the resolver's timeouts must not hold up shutdown.
        try WorkerThread.detach(name: "bascule-dns") {
            var wait = pollfd(fd: requests.fd, events: Int16(POLLIN), revents: 0)
            while true {
                _ = poll(&wait, 1, -1)
                for request in requests.drain() {
                    switch request {
                    case .stop:
                        return
                    case .resolve(let host):
                        replies.post(Reply(host: host, result: source.resolve(host)))
                    }
                }
            }
        }
    }

    /// Ends the resolver thread (after the query it may be in).
    public func stop() {
        requests.post(.stop)
        loop.unwatch(replies.fd)
        loop.unregister(id)
    }

    /// Follows exactly `hosts`: new names are resolved at once, names no longer given are
    /// forgotten; `refreshAll` asks every name again now (a reload).
    func follow(_ hosts: Set<HostName>, refreshAll: Bool) {
        for host in names.keys where !hosts.contains(host) {
            names[host] = nil
        }
        for host in hosts where names[host] == nil {
            names[host] = ResolvedName(host: host)
        }
        if refreshAll {
            for host in names.keys { names[host]!.refreshNow(nowMs: loop.nowMs) }
        }
        dispatchDue()
    }

    /// Follows `hosts` and waits, on the calling thread, for their first answers, at most
    /// `waitMs`: at startup, before the control loop runs, so a service starts with its pool
    /// instead of an empty one for its first connections, while a DNS server that does not
    /// answer delays the start by `waitMs` at most (not by every name's resolver timeouts in
    /// turn). A name still unanswered then is followed as usual; its backends join when its
    /// answer comes.
    func resolveAtStart(_ hosts: Set<HostName>, waitMs: Int) {
        follow(hosts, refreshAll: false)
        let deadline = ContinuousClock.now + .milliseconds(waitMs)
        var wait = pollfd(fd: replies.fd, events: Int16(POLLIN), revents: 0)
        while !inFlight.isEmpty {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { break }
            let (seconds, attoseconds) = remaining.components
            _ = poll(&wait, 1, Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
            for reply in replies.drain() { receive(reply) }
        }
    }

    private func receive(_ reply: Reply) {
        inFlight.remove(reply.host)
        guard var name = names[reply.host] else { return dispatchDue() }
        let changed = name.record(reply.result, nowMs: loop.nowMs, settings: settings)
        names[reply.host] = name
        note(reply.result, name)
        if changed { onChange?(name) }
        dispatchDue()
    }

    private func note(_ result: Result<NameAnswer, ResolutionFailure>, _ name: ResolvedName) {
        switch result {
        case .failure(let failure):
            let kept = name.addresses.isEmpty ? "no addresses yet" : "keeping the last good addresses"
            log.warning("dns: resolution failed; \(kept)", metadata: [
                "name": "\(name.host)", "reason": "\(failure)", "result": "\(failure.label)",
                "consecutiveFailures": "\(name.consecutiveFailures)",
                "retryInMs": "\(name.nextRefreshMs &- loop.nowMs)",
            ])
        case .success(let answer):
            log.debug("dns: resolved", metadata: [
                "name": "\(name.host)", "addresses": "\(name.addresses.map(\.description).joined(separator: " "))",
                "ttl": "\(answer.ttlSeconds.map(String.init) ?? "none")", "refreshInMs": "\(name.nextRefreshMs &- loop.nowMs)",
            ])
        }
    }

    private func dispatchDue() {
        let nowMs = loop.nowMs
        var earliest = UInt64.max
        for (host, name) in names where !inFlight.contains(host) {
            if name.nextRefreshMs <= nowMs {
                inFlight.insert(host)
                requests.post(.resolve(host))
            } else {
                earliest = min(earliest, name.nextRefreshMs)
            }
        }
        if earliest < timerAtMs || timerAtMs <= nowMs {
            timerAtMs = earliest
            if earliest != .max { loop.schedule(id, atMs: earliest) }
        }
    }

    public func handleEvent(_ events: EpollEvents, tag: UInt8) {}

    public func handleTimer(nowMs: UInt64) {
        guard timerAtMs != .max else { return }
        guard nowMs >= timerAtMs else { return loop.schedule(id, atMs: timerAtMs) }
        timerAtMs = .max
        dispatchDue()
    }

    /// Whether a query for `host` is with the resolver thread now.
    func isResolving(_ host: HostName) -> Bool { inFlight.contains(host) }
}
