import Testing
@testable import BasculeConfig

@Suite struct ConfigDiffTests {
    private func backend(_ name: String, port: UInt16, weight: Int = 1, backup: Bool = false) -> BackendConfig {
        BackendConfig(name: name, address: Endpoint(host: "127.0.0.1", port: port), weight: weight, backup: backup)
    }

    private func service(_ name: String, port: UInt16 = 8080, strategy: String = "round-robin",
                         backends: [BackendConfig]) -> ServiceConfig {
        ServiceConfig(name: name, listen: Endpoint(host: "127.0.0.1", port: port), strategy: strategy, backends: backends)
    }

    private var base: BasculeConfiguration {
        BasculeConfiguration(services: [
            service("publishing", port: 8081, backends: [backend("pub1", port: 9101), backend("pub2", port: 9102)]),
            service("management", port: 8080, backends: [backend("mgmt1", port: 9201)]),
        ])
    }

    @Test func identicalConfigurationsHaveAnEmptyDiff() {
        let diff = ConfigDiff(from: base, to: base)
        #expect(diff.isEmpty)
        #expect(diff.changedServices.isEmpty)
    }

    @Test func reorderingServicesAndBackendsIsNotAChange() {
        var reordered = base
        reordered.services.reverse()
        reordered.services[1].backends.reverse()
        #expect(ConfigDiff(from: base, to: reordered).isEmpty)
    }

    @Test func servicesAreAddedAndRemovedByName() {
        var new = base
        new.services.removeLast()
        new.services.append(service("reporting", port: 8082, backends: [backend("rep1", port: 9301)]))
        let diff = ConfigDiff(from: base, to: new)
        #expect(diff.addedServices == ["reporting"])
        #expect(diff.removedServices == ["management"])
        #expect(diff.changedServices.isEmpty)
    }

    @Test func backendChangesAreListedByName() throws {
        var new = base
        new.services[0].backends = [backend("pub1", port: 9101, weight: 5), backend("pub3", port: 9103)]
        let diff = ConfigDiff(from: base, to: new)
        #expect(diff.addedServices.isEmpty && diff.removedServices.isEmpty)
        let change = try #require(diff.changedServices.first)
        #expect(diff.changedServices.count == 1)
        #expect(change.name == "publishing")
        #expect(change.addedBackends == ["pub3"])
        #expect(change.removedBackends == ["pub2"])
        #expect(change.changedBackends == ["pub1"])
        #expect(!change.listenChanged)
        #expect(!change.settingsChanged, "only the backend set moved")
    }

    @Test func aBackendThatBecomesABackupOrMovesIsChanged() throws {
        var new = base
        new.services[0].backends[0].backup = true
        new.services[0].backends[1].address = Endpoint(host: "127.0.0.1", port: 9999)
        let change = try #require(ConfigDiff(from: base, to: new).changedServices.first)
        #expect(change.changedBackends == ["pub1", "pub2"])
    }

    @Test func listenAndSettingChangesAreToldApart() throws {
        var moved = base
        moved.services[1].listen = Endpoint(host: "127.0.0.1", port: 7070)
        let listenChange = try #require(ConfigDiff(from: base, to: moved).changedServices.first)
        #expect(listenChange.name == "management")
        #expect(listenChange.listenChanged)
        #expect(!listenChange.settingsChanged)

        var restrategized = base
        restrategized.services[1].strategy = "maglev"
        restrategized.services[1].healthCheck.intervalMs = 500
        let settingsChange = try #require(ConfigDiff(from: base, to: restrategized).changedServices.first)
        #expect(settingsChange.settingsChanged)
        #expect(!settingsChange.listenChanged)
        #expect(settingsChange.addedBackends.isEmpty && settingsChange.changedBackends.isEmpty)
    }

    @Test func workerAndAdminChangesAreFlagged() {
        var new = base
        new.workers = 4
        new.admin.token = "secret"
        let diff = ConfigDiff(from: base, to: new)
        #expect(diff.workersChanged)
        #expect(diff.adminChanged)
        #expect(!diff.isEmpty)
        #expect(diff.changedServices.isEmpty)
    }

    @Test func aChangedDefaultShowsUpInTheServicesThatInheritIt() throws {
        let old = try parse(designConfig).get()
        let new = try parse(designConfig.replacing(#""retries": 2"#, with: #""retries": 3"#)).get()
        let diff = ConfigDiff(from: old, to: new)
        #expect(diff.changedServices.map(\.name) == ["publishing", "management"])
        #expect(diff.changedServices.allSatisfy { $0.settingsChanged })
    }
}
