import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The process log as an operator's tools read it: every line logfmt (or JSON with
/// --log-format json), millisecond UTC timestamps, and journald priorities under systemd.
@Suite("Process log", .serialized, .timeLimit(.minutes(2)))
struct ProcessLogTests {
    static func isMillisecondStamp(_ text: String?) -> Bool {
        text?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil
    }

    /// logfmt as Loki and Vector parse it: `key=bare` or `key="quoted with \" escapes"`,
    /// separated by single spaces, nothing left over. Nil when the line does not parse.
    static func logfmt(_ line: String) -> [String: String]? {
        var fields: [String: String] = [:]
        var rest = Substring(line)
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let key = String(rest[..<equals])
            guard !key.isEmpty, !key.contains(" "), !key.contains("\"") else { return nil }
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if character == "\\" {
                        guard let escaped = rest.first else { return nil }
                        rest = rest.dropFirst()
                        value.append(escaped == "n" ? "\n" : escaped)
                    } else if character == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { return nil }
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                value = String(rest[..<end])
                guard !value.contains("\"") else { return nil }
                rest = rest[end...]
            }
            fields[key] = value
            if rest.first == " " { rest = rest.dropFirst() } else if !rest.isEmpty { return nil }
        }
        return fields
    }

    private func stderrLines(_ process: ManagedProcess) -> [String] {
        process.lines.filter { $0.stream == .stderr }.map(\.text)
    }

    private func startPool() throws -> (ManagedProcess, [[String: Any]]) {
        let (a, portA) = try BackendProcess.start(name: "a")
        return (a, [["name": "publishing", "healthCheck": ["type": "none"],
                     "backends": [["name": "a", "address": "127.0.0.1:\(portA)"]]]])
    }

    @Test func everyLineIsLogfmtWithMillisecondTimestampsAndQuotedSpaces() throws {
        let (a, services) = try startPool()
        defer { a.terminate() }
        let balancer = try BalancerProcess(services: services)
        defer { balancer.process.terminate() }
        // The admin API logs a route with a space in it: the value must stay one field.
        #expect(try balancer.admin("POST", "/services/publishing/backends/a/drain").status == 200)
        _ = try balancer.process.waitForLine(containing: "backend changed")

        let lines = stderrLines(balancer.process)
        #expect(!lines.isEmpty)
        for line in lines {
            let fields = try #require(Self.logfmt(line), "not logfmt: \(line)")
            #expect(Self.isMillisecondStamp(fields["ts"]), "\(line)")
            #expect(["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(fields["level"] ?? ""), "\(line)")
            #expect(fields["msg"] != nil && fields["logger"] != nil, "\(line)")
        }
        let changed = try #require(lines.compactMap(Self.logfmt).first { $0["msg"] == "admin API: backend changed" })
        #expect(changed["route"] == "POST /services/publishing/backends/a/drain")
        #expect(changed["level"] == "notice")
    }

    @Test func withJSONFormatEveryLineIsAJSONObject() throws {
        let (a, services) = try startPool()
        defer { a.terminate() }
        let balancer = try BalancerProcess(services: services, extraArguments: ["--log-format", "json"])
        defer { balancer.process.terminate() }
        #expect(try balancer.admin("POST", "/services/publishing/backends/a/drain").status == 200)
        _ = try balancer.process.waitForLine(containing: "backend changed")

        let lines = stderrLines(balancer.process)
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
            #expect(Self.isMillisecondStamp(object["ts"] as? String), "\(line)")
            #expect(object["level"] is String && object["msg"] is String, "\(line)")
        }
        let changed = try #require(lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["msg"] as? String == "admin API: backend changed" })
        #expect(changed["route"] as? String == "POST /services/publishing/backends/a/drain")
    }

    @Test func underTheJournalEachLineCarriesItsSyslogPriority() throws {
        let (a, services) = try startPool()
        defer { a.terminate() }
        // What systemd does: JOURNAL_STREAM names the device and inode of our standard error.
        let balancer = try BalancerProcess(services: services, shell: "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); export JOURNAL_STREAM;")
        defer { balancer.process.terminate() }
        #expect(try balancer.admin("POST", "/services/publishing/backends/a/drain").status == 200)
        _ = try balancer.process.waitForLine(containing: "backend changed")

        let priorities = ["debug": "7", "info": "6", "notice": "5", "warning": "4", "error": "3", "critical": "2"]
        let lines = stderrLines(balancer.process)
        #expect(!lines.isEmpty)
        for line in lines {
            let match = try #require(line.prefixMatch(of: /<(\d)>/), "no priority prefix: \(line)")
            let fields = try #require(Self.logfmt(String(line[match.range.upperBound...])), "\(line)")
            #expect(priorities[fields["level"] ?? ""] == String(match.1), "\(line)")
        }

        // A JOURNAL_STREAM that is not our standard error (inherited by a child) adds nothing.
        let other = try BalancerProcess(services: services, shell: "JOURNAL_STREAM=1:2; export JOURNAL_STREAM;")
        defer { other.process.terminate() }
        #expect(stderrLines(other.process).allSatisfy { $0.hasPrefix("ts=") }, "\(other.process.recentOutput())")
    }
}
