import BasculeConfig
import BasculeEventLoop
@testable import BasculeProxy
import Dispatch
import Glibc
import Logging
import Synchronization
import Testing

/// A source whose answers the test sets; it counts the queries it is asked, and can be made
/// to block (a resolver stuck in its timeouts).
final class FakeAddressSource: AddressSource {
    private let state = Mutex<(answers: [String: Result<NameAnswer, ResolutionFailure>], queries: [String: Int])>(([:], [:]))
    private let gate = Mutex<DispatchSemaphore?>(nil)

    func set(_ host: String, _ answer: Result<NameAnswer, ResolutionFailure>) {
        state.withLock { $0.answers[host] = answer }
    }

    func queries(_ host: String) -> Int { state.withLock { $0.queries[host] ?? 0 } }

    /// Queries wait until `release()`.
    func hold() { gate.withLock { $0 = DispatchSemaphore(value: 0) } }

    func release() {
        let held = gate.withLock { gate in
            defer { gate = nil }
            return gate
        }
        held?.signal()
    }

    func resolve(_ host: HostName) -> Result<NameAnswer, ResolutionFailure> {
        gate.withLock { $0 }?.wait()
        return state.withLock { state in
            state.queries[host.text, default: 0] += 1
            return state.answers[host.text] ?? .failure(.nameNotFound)
        }
    }
}

private func addresses(_ texts: String...) -> [IPAddress] { texts.map { IPAddress($0)! } }

private func answer(_ texts: String..., ttl: UInt32? = 30) -> Result<NameAnswer, ResolutionFailure> {
    .success(NameAnswer(addresses: texts.map { IPAddress($0)! }, ttlSeconds: ttl))
}

/// Runs the loop until `condition` holds or `timeoutMs` passes; answers whether it held.
private func run(_ loop: EventLoop, timeoutMs: UInt64 = 5000, until condition: () -> Bool) throws -> Bool {
    let deadline = loop.nowMs + timeoutMs
    while !condition() {
        guard loop.nowMs < deadline else { return false }
        try loop.runOnce(maxWaitMs: 20)
    }
    return true
}

@Suite struct ResolvedNameTests {
    private let settings = DNSSettings(minRefreshMs: 1000, maxRefreshMs: 60_000)
    private let host = HostName("db.example")!

    @Test func everyKindOfFailureKeepsTheLastGoodAddressesAndIsCountedByKind() {
        var name = ResolvedName(host: host)
        let changed = name.record(answer("192.0.2.2", "192.0.2.1"), nowMs: 1000, settings: settings)
        #expect(changed)
        #expect(name.addresses == addresses("192.0.2.1", "192.0.2.2"))
        let failures: [ResolutionFailure] = [.nameNotFound, .noAddresses, .serverFailure(rcode: 2), .timeout, .refused, .other("x")]
        for (step, failure) in failures.enumerated() {
            let changed = name.record(.failure(failure), nowMs: 2000 + UInt64(step), settings: settings)
            #expect(!changed)
            #expect(name.addresses == addresses("192.0.2.1", "192.0.2.2"), "\(failure)")
            #expect(name.lastFailure == failure)
        }
        let changedByEmpty = name.record(answer(), nowMs: 3000, settings: settings)
        #expect(!changedByEmpty, "an empty answer is no answer")
        #expect(name.addresses.count == 2)
        #expect(name.results == ["success": 1, "nxdomain": 1, "nodata": 2, "servfail": 1, "timeout": 1, "refused": 1, "error": 1])
        #expect(name.lastSuccessMs == 1000 && name.lastChangeMs == 1000 && name.consecutiveFailures == 7)
    }

    @Test func aNewSetIsAChangeTheSameSetInAnotherOrderIsNot() {
        var name = ResolvedName(host: host)
        let changed = name.record(answer("192.0.2.1", "192.0.2.2"), nowMs: 0, settings: settings)
        #expect(changed)
        let reordered = name.record(answer("192.0.2.2", "192.0.2.1", "192.0.2.2"), nowMs: 10, settings: settings)
        #expect(!reordered)
        #expect(name.lastChangeMs == 0 && name.lastSuccessMs == 10)
        let replaced = name.record(answer("192.0.2.2", "2001:db8::1"), nowMs: 20, settings: settings)
        #expect(replaced)
        #expect(name.addresses == addresses("192.0.2.2", "2001:db8::1") && name.lastChangeMs == 20)
    }

    @Test func theNextRefreshFollowsTheTTLWithinTheBounds() {
        var name = ResolvedName(host: host)
        _ = name.record(answer("192.0.2.1", ttl: 30), nowMs: 5000, settings: settings)
        #expect(name.nextRefreshMs == 5000 + 30_000)
        _ = name.record(answer("192.0.2.1", ttl: 0), nowMs: 5000, settings: settings)
        #expect(name.nextRefreshMs == 5000 + 1000, "a TTL of 0 waits for the lower bound")
        _ = name.record(answer("192.0.2.1", ttl: 86_400), nowMs: 5000, settings: settings)
        #expect(name.nextRefreshMs == 5000 + 60_000, "a day-long TTL is cut to the upper bound")
        _ = name.record(answer("192.0.2.1", ttl: nil), nowMs: 5000, settings: settings)
        #expect(name.nextRefreshMs == 5000 + 1000, "no TTL (/etc/hosts) counts as 0")
        #expect(name.ttlSeconds == nil)
    }

    @Test func failuresAreRetriedSoonThenLessOftenAndASuccessStartsOver() {
        var name = ResolvedName(host: host)
        var delays: [UInt64] = []
        for step in 0..<9 {
            _ = name.record(.failure(.timeout), nowMs: UInt64(step) * 100_000, settings: settings)
            delays.append(name.nextRefreshMs - UInt64(step) * 100_000)
        }
        #expect(delays == [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000])
        _ = name.record(answer("192.0.2.1", ttl: 5), nowMs: 1_000_000, settings: settings)
        _ = name.record(.failure(.timeout), nowMs: 1_000_000, settings: settings)
        #expect(name.nextRefreshMs == 1_000_000 + 1000)
    }

    @Test func aFamilyWhoseQueryFailedKeepsItsLastGoodAddresses() {
        var name = ResolvedName(host: host)
        _ = name.record(answer("192.0.2.1", "2001:db8::1"), nowMs: 0, settings: settings)
        let partial = NameAnswer(addresses: addresses("192.0.2.9"), ttlSeconds: 30,
                                 unanswered: .init(ipv6: true, failure: .timeout))
        let changed = name.record(.success(partial), nowMs: 10, settings: settings)
        #expect(changed)
        #expect(name.addresses == addresses("192.0.2.9", "2001:db8::1"), "IPv4 follows the answer, IPv6 is kept")
    }
}

@Suite(.timeLimit(.minutes(1))) struct NameResolverTests {
    @Test func answersComeBackFromTheResolverThreadAndNamesAreAskedAgainOnTheBoundedTTL() throws {
        let loop = try EventLoop()
        let source = FakeAddressSource()
        source.set("db.example", answer("192.0.2.1", ttl: 3600))
        let resolver = try NameResolver(loop: loop, source: source, settings: DNSSettings(minRefreshMs: 100, maxRefreshMs: 300),
                                        log: Logger(label: "test"))
        defer { resolver.stop() }
        let changes = Mutex<[[IPAddress]]>([])
        resolver.onChange = { name in changes.withLock { $0.append(name.addresses) } }
        resolver.follow([HostName("db.example")!], refreshAll: false)
        #expect(try run(loop) { changes.withLock { $0.count } == 1 })
        #expect(changes.withLock { $0 } == [addresses("192.0.2.1")])

        // The hour-long TTL is cut to 300 ms: the change shows within that bound.
        source.set("db.example", answer("192.0.2.1", "192.0.2.2", ttl: 3600))
        let changedAt = loop.nowMs
        #expect(try run(loop) { changes.withLock { $0.count } == 2 })
        #expect(loop.nowMs - changedAt <= 300 + 100, "followed after \(loop.nowMs - changedAt) ms")
        #expect(changes.withLock { $0.last } == addresses("192.0.2.1", "192.0.2.2"))

        // A failing server: the addresses stay, and no change is reported.
        source.set("db.example", .failure(.serverFailure(rcode: 2)))
        #expect(try run(loop) { resolver.names[HostName("db.example")!]?.consecutiveFailures ?? 0 >= 2 })
        #expect(resolver.names[HostName("db.example")!]?.addresses == addresses("192.0.2.1", "192.0.2.2"))
        #expect(changes.withLock { $0.count } == 2)
    }

    @Test func aResolverStuckInItsTimeoutsDoesNotHoldUpTheLoop() throws {
        let loop = try EventLoop()
        let source = FakeAddressSource()
        source.set("db.example", answer("192.0.2.1"))
        source.hold()
        let resolver = try NameResolver(loop: loop, source: source, settings: DNSSettings(), log: Logger(label: "test"))
        defer { resolver.stop() }
        resolver.follow([HostName("db.example")!], refreshAll: false)

        final class Ticks: EventHandler {
            var count = 0
            func handleEvent(_ events: EpollEvents, tag: UInt8) {}
            func handleTimer(nowMs: UInt64) { count += 1 }
        }
        let ticks = Ticks()
        let id = loop.register(ticks)
        for step in 1...5 { loop.schedule(id, atMs: loop.nowMs + UInt64(step) * 20) }
        #expect(try run(loop, timeoutMs: 2000) { ticks.count == 5 }, "the loop's timers ran while the query was held")
        #expect(resolver.isResolving(HostName("db.example")!))
        #expect(resolver.names[HostName("db.example")!]?.hasResolved == false)
        source.release()
        #expect(try run(loop) { resolver.names[HostName("db.example")!]?.hasResolved == true })
        loop.unregister(id)
    }

    @Test func aNameNoLongerFollowedIsForgotten() throws {
        let loop = try EventLoop()
        let source = FakeAddressSource()
        source.set("a.example", answer("192.0.2.1"))
        let resolver = try NameResolver(loop: loop, source: source, settings: DNSSettings(), log: Logger(label: "test"))
        defer { resolver.stop() }
        resolver.resolveAtStart([HostName("a.example")!, HostName("b.example")!], waitMs: 5000)
        #expect(resolver.names.count == 2 && source.queries("a.example") == 1)
        #expect(resolver.names[HostName("b.example")!]?.lastFailure == .nameNotFound)
        resolver.follow([HostName("a.example")!], refreshAll: false)
        #expect(resolver.names.keys.map(\.text) == ["a.example"])
    }
}

/// The pool as the file's names make it, through `ConfigurationReload` and the registry the
/// workers' tables come from (no worker runs).
@Suite(.timeLimit(.minutes(1))) struct NamedBackendPoolTests {
    private static func configuration(drainTimeoutMs: Int = 30_000, weight: Int = 4) -> BasculeConfiguration {
        var service = ServiceConfig(name: "db", listen: Endpoint(host: "127.0.0.1", port: 15432), strategy: "round-robin",
                                    backends: [BackendConfig(name: "fixed", address: Endpoint(host: "127.0.0.1", port: 5432))])
        service.drainTimeoutMs = drainTimeoutMs
        service.namedBackends = [NamedBackendConfig(host: HostName("db.example")!, port: 5432,
                                                    settings: BackendConfig(name: "db", address: Endpoint(host: "0.0.0.0", port: 5432),
                                                                            weight: weight, maxConnections: 50))]
        var configuration = BasculeConfiguration(services: [service])
        configuration.dns = DNSSettings(minRefreshMs: 100, maxRefreshMs: 200)
        return configuration
    }

    private func reload(_ configuration: BasculeConfiguration) throws -> (ConfigurationReload, EventLoop) {
        let loop = try EventLoop()
        let registry = try BackendRegistry(services: configuration.services, workerCount: 1, workers: WorkerMailboxes(),
                                           loop: loop, log: Logger(label: "test"))
        return (ConfigurationReload(configuration: configuration, registry: registry, workers: WorkerMailboxes(),
                                    processLimits: ProcessLimits(), log: Logger(label: "test")), loop)
    }

    private func pool(_ reload: ConfigurationReload) -> [String] {
        reload.registry.status()[0].backends.map { "\($0.name) \($0.state)" }
    }

    @Test func addressesJoinWithTheEntrysSettingsLeaveByDrainingAndAFailureKeepsThePool() throws {
        let (reload, loop) = try reload(Self.configuration())
        let source = FakeAddressSource()
        source.set("db.example", answer("192.0.2.1", "192.0.2.2", ttl: 0))
        try reload.startResolvingNames(source: source)
        defer { reload.stopResolvingNames() }
        #expect(pool(reload) == ["fixed up", "db@192.0.2.1 up", "db@192.0.2.2 up"], "resolved before the start")
        let resolved = reload.configuration.services[0].backends[1]
        #expect(resolved.weight == 4 && resolved.maxConnections == 50 && resolved.address == Endpoint(host: "192.0.2.1", port: 5432))
        let annotated = reload.annotate(reload.registry.status())[0].backends
        #expect(annotated[1].origin == "dns" && annotated[1].resolvedFrom == ResolvedFrom(backend: "db", target: "db.example:5432"))
        #expect(annotated[0].origin == "file" && !reload.runtimeDiffersFromFile)

        // 192.0.2.1 leaves the answer: it drains (no connection is open, so it goes at the next poll).
        source.set("db.example", answer("192.0.2.2", "192.0.2.3", ttl: 0))
        #expect(try run(loop) { pool(reload).contains("db@192.0.2.3 up") })
        #expect(pool(reload).contains("db@192.0.2.1 draining") || !pool(reload).contains { $0.hasPrefix("db@192.0.2.1") })
        #expect(try run(loop) { pool(reload) == ["fixed up", "db@192.0.2.2 up", "db@192.0.2.3 up"] })

        // The server fails: the pool stays, the failure is in the status.
        source.set("db.example", .failure(.timeout))
        #expect(try run(loop) { reload.nameStatuses().first?.consecutiveFailures ?? 0 >= 2 })
        #expect(pool(reload) == ["fixed up", "db@192.0.2.2 up", "db@192.0.2.3 up"])
        let status = try #require(reload.nameStatuses().first)
        #expect(status.lastFailureReason == "no DNS server answered in time" && status.addresses == ["192.0.2.2", "192.0.2.3"])
        #expect(status.usedBy == ["db/db (db.example:5432)"] && status.results.contains { $0 == ("timeout", status.consecutiveFailures) })
    }

    @Test func anAddressThatComesBackWhileDrainingStays() throws {
        let (reload, loop) = try reload(Self.configuration())
        let source = FakeAddressSource()
        source.set("db.example", answer("192.0.2.1", "192.0.2.2", ttl: 0))
        try reload.startResolvingNames(source: source)
        defer { reload.stopResolvingNames() }
        // A connection open on 192.0.2.1 keeps it draining instead of removed.
        let s = try #require(reload.registry.serviceIndex(named: "db"))
        let b = try #require(reload.registry.backendIndex(service: s, named: "db@192.0.2.1"))
        reload.registry.services[s].counters[b].active.add(1, ordering: .relaxed)
        source.set("db.example", answer("192.0.2.2", ttl: 0))
        #expect(try run(loop) { pool(reload).contains("db@192.0.2.1 draining") })
        source.set("db.example", answer("192.0.2.1", "192.0.2.2", ttl: 0))
        #expect(try run(loop) { pool(reload).contains("db@192.0.2.1 up") })
        #expect(reload.runtimePendingRemovals == 0)
    }

    @Test func aNameThatDoesNotResolveAtStartStartsEmptyAndFillsWhenItResolves() throws {
        var configuration = Self.configuration()
        configuration.services[0].backends = []
        let (reload, loop) = try reload(configuration)
        let source = FakeAddressSource()
        try reload.startResolvingNames(source: source)
        defer { reload.stopResolvingNames() }
        #expect(pool(reload).isEmpty)
        #expect(reload.nameStatuses().first?.lastFailureReason == "NXDOMAIN: the name does not exist")
        source.set("db.example", answer("192.0.2.1", ttl: 0))
        #expect(try run(loop) { pool(reload) == ["db@192.0.2.1 up"] })
    }

    @Test func aDNSServerThatDoesNotAnswerDelaysTheStartByTheWaitBoundOnly() throws {
        let (reload, loop) = try reload(Self.configuration())
        let source = FakeAddressSource()
        source.set("db.example", answer("192.0.2.1", ttl: 0))
        source.hold()
        let started = ContinuousClock.now
        try reload.startResolvingNames(source: source, waitMs: 300)
        defer { reload.stopResolvingNames() }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(300) && waited < .seconds(3), "waited \(waited)")
        #expect(pool(reload) == ["fixed up"], "started without the name's backends")
        source.release()
        #expect(try run(loop) { pool(reload) == ["fixed up", "db@192.0.2.1 up"] }, "they join when the answer comes")
    }

    @Test func aReloadKeepsTheNamesBackendsWithTheNewSettingsAndDropsThoseOfARemovedName() throws {
        let (reload, loop) = try reload(Self.configuration())
        let source = FakeAddressSource()
        source.set("db.example", answer("192.0.2.1", ttl: 0))
        try reload.startResolvingNames(source: source)
        defer { reload.stopResolvingNames() }
        let asked = source.queries("db.example")

        reload.configurationSource = { .success(Self.configuration(weight: 9)) }
        #expect(reload.reloadConfiguration().isEmpty)
        #expect(pool(reload) == ["fixed up", "db@192.0.2.1 up"])
        #expect(reload.configuration.services[0].backends[1].weight == 9)
        #expect(reload.lastReloadUndid.isEmpty, "DNS backends are the file's: nothing to undo")
        #expect(try run(loop) { source.queries("db.example") > asked }, "a reload asks the names again")

        var without = Self.configuration()
        without.services[0].namedBackends = []
        reload.configurationSource = { .success(without) }
        #expect(reload.reloadConfiguration().isEmpty)
        #expect(pool(reload) == ["fixed up"])
        #expect(reload.nameStatuses().isEmpty)
    }
}
