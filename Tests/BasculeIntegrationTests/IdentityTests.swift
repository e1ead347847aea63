import BasculeTestSupport
import Foundation
import Testing

/// What a packaged binary says about itself: its version (defined once, in
/// BasculeVersion.swift), its subcommands, and completion scripts generated from them.
@Suite("Identity", .timeLimit(.minutes(2)))
struct IdentityTests {
    static func sourceVersion() throws -> String {
        let text = try String(contentsOfFile: ScaleOutLab.repository + "/Sources/BasculeConfig/BasculeVersion.swift", encoding: .utf8)
        return String(try #require(text.firstMatch(of: /static let string = "([^"]+)"/)).1)
    }

    @Test func bothBinariesReportTheSourceVersion() throws {
        let version = try Self.sourceVersion()
        #expect(version.wholeMatch(of: /\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?/) != nil, "\(version) is not a semantic version")
        #expect(try CommandRun.succeeding(try TestBinaries.bascule(), ["--version"]).stdout == [version])
        #expect(try CommandRun.succeeding(try TestBinaries.backend(), ["--version"]).stdout == [version])
    }

    @Test func helpListsTheBackendSubcommand() throws {
        let help = try CommandRun.succeeding(try TestBinaries.bascule(), ["--help"]).stdout.joined(separator: "\n")
        #expect(help.contains("  backend "), "\(help)")
    }

    @Test func completionScriptsKnowEverySubcommandAndBashAcceptsItsOwn() throws {
        for shell in ["bash", "zsh", "fish"] {
            let script = try CommandRun.succeeding(try TestBinaries.bascule(), ["--generate-completion-script", shell]).stdout.joined(separator: "\n")
            // fish spells options without dashes (`-l 'log-format'`).
            for word in ["run", "check", "demo", "ctl", "drain-node", "backend", "log-format", "force"] {
                #expect(script.contains(word), "\(shell) completion lacks \(word)")
            }
        }
        let directory = NSTemporaryDirectory() + "bascule-completion-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bascule.bash"
        try CommandRun.succeeding(try TestBinaries.bascule(), ["--generate-completion-script", "bash"]).stdout
            .joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let syntax = try CommandRun.run("/bin/bash", ["-n", path])
        #expect(syntax.status == 0, "\(syntax.output)")
    }
}
