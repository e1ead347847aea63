import BasculeBackendService
import BasculeTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("bascule-backend lifecycle", .serialized, .timeLimit(.minutes(2)))
struct BackendLifecycleTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func exitsWithStatusZeroOnSignal(signo: Int32) throws {
        let (backend, port) = try BackendProcess.start(name: "signal-\(signo)")
        // An open keep-alive connection must not hold the exit up.
        let idle = try TestHTTPClient().connect(port: port)
        defer { idle.close() }
        #expect(try idle.get("/health").status == 200)
        backend.signal(signo)
        #expect(backend.waitForExit(timeout: .seconds(5)) == 0, "output:\n\(backend.recentOutput())")
    }

    @Test func listensOnIPv6Loopback() throws {
        let (backend, port) = try BackendProcess.start(name: "v6", host: "::1")
        defer { backend.terminate() }
        #expect(try backend.waitForLine(containing: "listening on").hasPrefix("listening on [::1]:"))
        let response = try TestHTTPClient(host: "::1").get(port: port, path: "/whoami")
        #expect(response.bodyText == "v6\n")
    }

    @Test func printsOneReadinessLineWithTheRealPort() throws {
        let (backend, port) = try BackendProcess.start(name: "ready")
        defer { backend.terminate() }
        #expect(backend.lines.map(\.text) == ["listening on 127.0.0.1:\(port)"])
    }

    @Test func refusesInvalidArgumentsWithAUsageError() throws {
        let process = try ManagedProcess(executable: TestBinaries.backend(),
                                         arguments: ["--listen", "127.0.0.1", "--name", "x"])
        let status = process.waitForExit(timeout: .seconds(10))
        #expect(status != nil && status != 0)
        #expect(process.lines.contains { $0.stream == .stderr && $0.text.contains("listen") })
    }

    @Test func failsClearlyWhenThePortIsTaken() throws {
        let (first, port) = try BackendProcess.start(name: "holder")
        defer { first.terminate() }
        let second = try ManagedProcess(executable: TestBinaries.backend(),
                                        arguments: ["--listen", "127.0.0.1:\(port)", "--name", "late"])
        #expect(second.waitForExit(timeout: .seconds(10)).map { $0 != 0 } == true)
        #expect(second.lines.contains { $0.text.contains("bind") })
    }
}
