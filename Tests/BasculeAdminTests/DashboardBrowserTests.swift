@testable import BasculeAdmin
import Foundation
import Glibc
import Testing

/// The dashboard in a real browser: headless Chromium runs the page's script against a live
/// server and the rendered DOM must show every backend and its state.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct DashboardBrowserTests {
    private static let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { access($0, X_OK) == 0 }

    /// Runs the browser with a hard deadline so a wedged browser fails the test instead of hanging it.
    private func runBrowser(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let profile = "\(NSTemporaryDirectory())bascule-chromium-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.chromium!)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--user-data-dir=\(profile)"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let killer = DispatchWorkItem { [process] in if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: killer)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func showsEveryBackendAndItsStateInChromium() throws {
        guard Self.chromium != nil else {
            print("skipping the browser check: chromium is not installed (apt-get install chromium)")
            return
        }
        let target = FakeTarget()
        target.mutate {
            $0[0].backends[1].admin = .draining
            $0[1].backends[0].healthy = false
            $0[1].backends[0].reason = "health check: connection refused"
        }
        // The health monitor's part of /status, as the CLI adds it: web-1's checks pass, web-3's
        // fail while it is still up.
        let check: (String, String, Double, String) -> JSONValue = { backend, result, latency, reason in
            .object([("service", .string("web")), ("backend", .string(backend)), ("type", .string("http")),
                     ("lastResult", .string(result)), ("reason", .string(reason)), ("latencyMs", .double(latency))])
        }
        let server = try RunningAdminServer(token: "s3cret", target: target) {
            $0.extraStatus = [(key: "healthChecks", value: {
                .array([check("web-1", "ok", 1.5, ""), check("web-3", "failed", 0, "HTTP 503 (expected 200)")])
            })]
        }
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)/"

        let dom = try runBrowser(["--virtual-time-budget=3000", "--dump-dom", url])
        #expect(dom.status == 0)
        for name in ["web-1", "web-2", "web-3", "db-1"] {
            #expect(dom.output.contains("data-backend=\"\(name)\""), "backend \(name) not rendered")
        }
        #expect(dom.output.contains("<span class=\"state draining\">draining</span>"))
        #expect(dom.output.contains("<span class=\"state down\">down</span>"))
        #expect(dom.output.contains("health check: connection refused"))
        #expect(dom.output.contains("NOT READY"))
        #expect(dom.output.contains("ok · 1.5 ms"))
        #expect(dom.output.contains("<td class=\"check failed\">failed: HTTP 503 (expected 200)</td>"))
        #expect(dom.output.contains("no check"), "backends without an active check say so")

        let screenshot = "\(NSTemporaryDirectory())bascule-dashboard-\(getpid()).png"
        let shot = try runBrowser(["--virtual-time-budget=3000", "--window-size=1200,800", "--screenshot=\(screenshot)", url])
        #expect(shot.status == 0)
        #expect(FileManager.default.fileExists(atPath: screenshot))
        print("dashboard screenshot: \(screenshot)")
    }
}
