import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One JSON line per finished connection, reopened on SIGUSR1; connection histograms.
@Suite("Access log", .serialized, .timeLimit(.minutes(2)))
struct AccessLogTests {
    private func lines(_ path: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    @Test func everyConnectionIsLoggedWithHowItEndedAndSIGUSR1ReopensTheFile() throws {
        let (pub1, port1) = try BackendProcess.start(name: "pub1")
        defer { pub1.terminate() }
        let logPath = NSTemporaryDirectory() + "bascule-access-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(logPath); unlink(logPath + ".1") }
        let balancer = try BalancerProcess(services: [
            ["name": "publishing", "healthCheck": ["type": "none"],
             "backends": [["name": "pub1", "address": "127.0.0.1:\(port1)"]]],
            ["name": "nowhere", "healthCheck": ["type": "none"], "retries": 0,
             "backends": [["name": "dead", "address": "127.0.0.1:\(try freeLoopbackPort())"]]],
        ], extraTopLevel: ["accessLog": logPath])
        defer { balancer.process.terminate() }

        // Backend closes (HTTP/1.0), client closes (keep-alive then close), connect failed.
        let oneShot = try TCPClient(port: balancer.port("publishing"))
        try oneShot.sendAll("GET /whoami HTTP/1.0\r\n\r\n")
        let answer = try oneShot.readToEOF()
        oneShot.close()
        let keepAlive = try TestHTTPClient().connect(port: balancer.port("publishing"))
        _ = try keepAlive.get("/whoami")
        keepAlive.close()
        let refused = try TCPClient(port: balancer.port("nowhere"))
        _ = try? refused.readToEOF()

        try waitUntil("three access-log lines") { lines(logPath).count >= 3 }
        let logged = lines(logPath)
        let backendClosed = try #require(logged.first { $0["end"] as? String == "backend closed" })
        #expect(backendClosed["service"] as? String == "publishing")
        #expect(backendClosed["backend"] as? String == "pub1")
        #expect((backendClosed["bytesOut"] as? Int) == answer.count)
        #expect((backendClosed["bytesIn"] as? Int) == "GET /whoami HTTP/1.0\r\n\r\n".utf8.count)
        #expect((backendClosed["client"] as? String)?.hasPrefix("127.0.0.1:") == true)
        #expect(backendClosed["connectMs"] is Double || backendClosed["connectMs"] is Int)
        #expect((backendClosed["time"] as? String)?.hasSuffix("Z") == true)
        #expect(logged.contains { $0["end"] as? String == "client closed" })
        let failed = try #require(logged.first { $0["end"] as? String == "connect failed" })
        #expect(failed["backend"] is NSNull)
        #expect(failed["service"] as? String == "nowhere")

        // logrotate: rename, SIGUSR1, and new lines land in a new file at the path.
        #expect(rename(logPath, logPath + ".1") == 0)
        balancer.process.signal(SIGUSR1)
        try balancer.process.waitForLine(containing: "reopening the access log")
        _ = try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami")
        try waitUntil("a line in the reopened file") { lines(logPath).count == 1 }

        // The histograms count every connection of the service.
        let durationCount = try balancer.metric("bascule_connection_duration_seconds_count", ["service": "publishing"])
        #expect(durationCount == 3)
        #expect(try balancer.metric("bascule_connect_duration_seconds_count", ["service": "publishing"]) == 3)
        #expect(try balancer.metric("bascule_connection_duration_seconds_bucket", ["service": "publishing", "le": "+Inf"]) == 3)
    }

    @Test func anAccessLogPathThatCannotBeOpenedFailsTheStart() throws {
        // A directory passes validation (its parent is writable) but cannot be opened as a file:
        // the balancer must refuse to start rather than run with every line silently lost.
        let directory = NSTemporaryDirectory() + "bascule-access-dir-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configPath = directory + "/config.json"
        try BalancerProcess.write([
            "admin": ["listen": "127.0.0.1:\(try freeLoopbackPort())"],
            "accessLog": directory,
            "services": [["name": "publishing", "listen": "127.0.0.1:\(try freeLoopbackPort())", "healthCheck": ["type": "none"],
                          "backends": [["name": "pub1", "address": "127.0.0.1:\(try freeLoopbackPort())"]]]],
        ], to: configPath)
        let process = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: ["run", "--config", configPath])
        let status = process.waitForExit(timeout: .seconds(10))
        #expect(status != nil && status != 0, "\(process.recentOutput())")
        #expect(process.recentOutput().contains("cannot open"), "\(process.recentOutput())")
    }
}
