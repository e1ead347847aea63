import BasculeBackendService
import BasculeTestSupport
import Testing

@Suite("bascule-backend under concurrent connections", .serialized, .timeLimit(.minutes(2)))
struct BackendConcurrencyTests {
    @Test func answersTwoHundredConcurrentConnections() throws {
        let (backend, port) = try BackendProcess.start(name: "many")
        defer { backend.terminate() }
        let client = TestHTTPClient()
        // All connections are open at once, so each needs its own server thread to be answered.
        let connections = try (0..<200).map { _ in try client.connect(port: port) }
        defer { connections.forEach { $0.close() } }
        for (index, connection) in connections.enumerated() {
            let response = try connection.get("/content/c\(index)?size=1K")
            #expect(response.status == 200 && response.body.count == 1024, "connection \(index)")
        }
        // And again on the same connections, in reverse: all still alive.
        for connection in connections.reversed() {
            #expect(try connection.get("/whoami").bodyText == "many\n")
        }
    }

    /// Needs about 1,000 descriptors in this process (and as many in the backend).
    @Test(.enabled(if: FileDescriptorLimit.raiseToHardLimit() >= 2_500, "open-file limit below 2,500"))
    func holdsAThousandIdleKeepAliveConnections() throws {
        let (backend, port) = try BackendProcess.start(name: "thousand")
        defer { backend.terminate() }
        let client = TestHTTPClient()
        var connections: [HTTPClientConnection] = []
        defer { connections.forEach { $0.close() } }
        for _ in 0..<1_000 {
            let connection = try client.connect(port: port)
            connections.append(connection)
            #expect(try connection.get("/health").status == 200)
        }
        #expect(try connections[0].get("/whoami").bodyText == "thousand\n")
    }
}
