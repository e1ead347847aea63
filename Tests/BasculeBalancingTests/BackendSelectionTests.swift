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
