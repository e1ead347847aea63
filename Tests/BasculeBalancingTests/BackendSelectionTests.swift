import Testing
import BasculeBalancing

private let primary1 = BackendEntry(index: 0, name: "p1", address: "198.0.0.1:80")
private let primary2 = BackendEntry(index: 1, name: "p2", address: "198.0.0.2:80")
private let backup1 = BackendEntry(index: 2, name: "b1", address: "198.0.0.3:80")
private let backup2 = BackendEntry(index: 3, name: "b2", address: "198.0.0.4:80")

@Test func backupsTakeNoTrafficWhileAPrimaryIsAvailable() {
    let eligible = BackendSelection.eligible([
        (primary1, false, false), (primary2, false, true), (backup1, true, true),
    ])
    #expect(eligible == [primary2])
}

@Test func availableBackupsTakeOverWhenNoPrimaryIs() {
    let eligible = BackendSelection.eligible([
        (primary1, false, false), (primary2, false, false), (backup1, true, false), (backup2, true, true),
    ])
    #expect(eligible == [backup2])
}

@Test func nothingIsEligibleWhenNothingIsAvailable() {
    #expect(BackendSelection.eligible([(primary1, false, false), (backup1, true, false)]).isEmpty)
    #expect(BackendSelection.eligible([]).isEmpty)
}

@Test func allAvailablePrimariesAreEligibleInConfigOrder() {
    let eligible = BackendSelection.eligible([(primary2, false, true), (backup1, true, true), (primary1, false, true)])
    #expect(eligible == [primary2, primary1])
}

@Test func theLowestTierWithAnAvailableBackendTakesTheTraffic() {
    let dr = BackendEntry(index: 4, name: "dr", address: "198.0.0.5:80")
    let all = [(primary1, 0, false), (backup1, 1, true), (backup2, 1, false), (dr, 2, true)]
    #expect(BackendSelection.eligible(tiered: all).map(\.name) == ["b1"])
    #expect(BackendSelection.activeTier(all.map { ($0.1, $0.2) }) == 1)
    let tierOneDown = [(primary1, 0, false), (backup1, 1, false), (dr, 2, true)]
    #expect(BackendSelection.eligible(tiered: tierOneDown).map(\.name) == ["dr"])
    #expect(BackendSelection.activeTier([(0, false), (2, false)]) == nil)
}
