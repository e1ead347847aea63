import Foundation
import Testing
@testable import BasculeConfig

/// docs/configuration.md against the loader itself: the keys each section accepts are read
/// from the loader's own "unknown key (known keys: …)" answer, so a key added to the loader
/// and not to the page (or the reverse) fails here, and every example on the page is loaded.
@Suite struct ConfigReferenceTests {
    /// The sections the page documents, by the path written in their heading.
    enum Section: String, CaseIterable {
        case root = "$"
        case admin = "admin"
        case defaults = "defaults"
        case service = "services[]"
        case backend = "services[].backends[]"
        case healthCheck = "services[].healthCheck"
        case steps = "services[].healthCheck.steps[]"
        case backendHealthCheck = "services[].backends[].healthCheck"
        case agent = "services[].backends[].agent"
        case clientHello = "clientHello"
        case dns = "dns"
    }

    struct Row {
        let key: String
        let type: String
        let defaultValue: String
        let reload: String
        let example: String
    }

    @Test func everyKeyTheLoaderAcceptsIsDocumentedAndNothingElse() throws {
        let reference = try Self.reference()
        for section in Section.allCases {
            let documented = try #require(reference[section], "docs/configuration.md has no section `\(section.rawValue)`")
            let accepted = try Self.acceptedKeys(section)
            let missing = accepted.filter { key in !documented.contains { $0.key == key } }
            let extra = documented.map(\.key).filter { !accepted.contains($0) }
            #expect(missing.isEmpty, "accepted by the loader in `\(section.rawValue)` but not documented: \(missing)")
            #expect(extra.isEmpty, "documented in `\(section.rawValue)` but refused by the loader: \(extra)")
            #expect(Set(documented.map(\.key)).count == documented.count, "a key is documented twice in `\(section.rawValue)`")
        }
        #expect(Set(reference.keys) == Set(Section.allCases), "the page has sections the test does not know")
    }

    @Test func everyRowSaysTypeDefaultReloadAndAnExampleThatLoads() throws {
        let reference = try Self.reference()
        for (section, rows) in reference {
            for row in rows {
                let where_ = "`\(section.rawValue)` `\(row.key)`"
                #expect(!row.type.isEmpty && !row.defaultValue.isEmpty, "\(where_): type and default must be given")
                let isObject = row.type.hasPrefix("object") || row.type.hasPrefix("array of objects")
                #expect(isObject || row.reload.hasPrefix("live") || row.reload.hasPrefix("restart"),
                        "\(where_): reload must say live or restart, got \(row.reload)")
                #expect(row.example.hasPrefix("\"\(row.key)\": "), "\(where_): the example must set this key, got \(row.example)")
                let errors = Self.load(section, member: row.example, replacing: row.key)
                // Two keys name files on the operator's machine; here only their absence may fail.
                // So does `interface`, which names a device of the operator's machine.
                let tolerated = ["accessLog", "caFile"].contains(row.key)
                    ? errors.filter { !$0.contains("not writable") && !$0.contains("cannot be read") }
                    : errors.filter { !(row.example.contains(#""interface": "#) && $0.contains("no network interface")) }
                #expect(tolerated.isEmpty, "\(where_): the example \(row.example) does not load: \(tolerated)")
            }
            // An object key must have its own section, so its keys are documented too.
            for row in rows where row.type.hasPrefix("object") || row.type.hasPrefix("array of objects") {
                let child = (section == .root ? "" : section.rawValue + ".") + row.key
                #expect(Section(rawValue: child) != nil || Section(rawValue: child + "[]") != nil,
                        "`\(row.key)` is an object in `\(section.rawValue)` and has no section of its own")
            }
        }
    }

    @Test func theCompleteExampleOnThePageLoads() throws {
        let text = try Self.page()
        let start = try #require(text.range(of: "```json\n"))
        let end = try #require(text.range(of: "\n```", range: start.upperBound..<text.endIndex))
        let json = String(text[start.upperBound..<end.lowerBound])
        let result = ConfigLoader.parse(Array(json.utf8), knownStrategies: knownStrategies)
        #expect(result.value != nil, "the page's example does not load: \(result.errorLines)")
    }

    // MARK: - The page

    static func page() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
    }

    /// Rows of every `## … \`path\`` section; a table row starts with "| `key`".
    static func reference() throws -> [Section: [Row]] {
        var sections: [Section: [Row]] = [:]
        var current: Section?
        for line in try page().split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") {
                let parts = line.split(separator: "`")
                current = parts.count >= 2 ? Section(rawValue: String(parts[1])) : nil
                if let current { sections[current] = sections[current] ?? [] }
                continue
            }
            guard let section = current, line.hasPrefix("| `") else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 5 else {
                Issue.record("a row of `\(section.rawValue)` does not have 5 cells: \(line)")
                continue
            }
            let unquoted = cells.map { $0.hasPrefix("`") && $0.hasSuffix("`") ? String($0.dropFirst().dropLast()) : $0 }
            sections[section, default: []].append(Row(key: unquoted[0], type: cells[1], defaultValue: cells[2],
                                                      reload: cells[3], example: unquoted[4]))
        }
        return sections
    }

    // MARK: - The loader

    /// What the loader answers for a key it cannot know in `section`: "known keys: a, b, c".
    static func acceptedKeys(_ section: Section) throws -> [String] {
        let errors = load(section, member: #""qqqqqqqqqqqqqqqqqqqq": 1"#, replacing: "qqqqqqqqqqqqqqqqqqqq")
        let marker = "known keys: "
        let message = try #require(errors.first { $0.contains(marker) }, "no unknown-key error in \(section): \(errors)")
        let list = message[message.range(of: marker)!.upperBound...].dropLast()
        return list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// Loads a minimal valid file with `member` (`"key": value`) placed in `section`, in place
    /// of the minimal file's own member of that key, and returns the error messages.
    static func load(_ section: Section, member: String, replacing key: String) -> [String] {
        func object(_ base: [(String, String)], adding extra: String?) -> String {
            var members = base.filter { extra == nil || $0.0 != key }.map { "\"\($0.0)\": \($0.1)" }
            if let extra { members.append(extra) }
            return "{" + members.joined(separator: ", ") + "}"
        }
        // An XDP service's example needs a virtual address (not loopback) and backends on its port.
        let xdp = member.contains(#""dataPlane": "xdp""#)
        var backendBase = [("name", #""b1""#), ("address", xdp ? #""198.51.100.6:9001""# : #""127.0.0.1:9001""#)]
        if section == .backendHealthCheck { backendBase.append(("healthCheck", object([], adding: member))) }
        // An agent needs its port; a step needs one action, unless the member is one.
        if section == .agent { backendBase.append(("agent", object([("port", "9777")], adding: member))) }
        let backend = object(backendBase, adding: section == .backend ? member : nil)
        // A backup example needs a primary beside it.
        let primary = object([("name", #""b0""#), ("address", xdp ? #""198.51.100.7:9001""# : #""127.0.0.1:9002""#)], adding: nil)
        var serviceBase = [("name", #""web""#), ("listen", xdp ? #""192.0.2.10:9001""# : #""127.0.0.1:8080""#),
                           ("backends", "[\(primary), \(backend)]")]
        if section == .healthCheck { serviceBase.append(("healthCheck", object([], adding: member))) }
        if section == .steps {
            let actions = ["send", "sendHex", "expect", "expectRegex"]
            let step = object(actions.contains(key) ? [] : [("send", #""x""#)], adding: member)
            serviceBase.append(("healthCheck", object([("type", #""tcp""#), ("steps", "[\(step)]")], adding: nil)))
        }
        let service = object(serviceBase, adding: section == .service ? member : nil)
        var rootBase = [("services", "[\(service)]")]
        if section == .admin { rootBase.append(("admin", object([], adding: member))) }
        if section == .defaults { rootBase.append(("defaults", object([], adding: member))) }
        if section == .clientHello { rootBase.append(("clientHello", object([], adding: member))) }
        if section == .dns { rootBase.append(("dns", object([], adding: member))) }
        let root = object(rootBase, adding: section == .root ? member : nil)
        return ConfigLoader.parse(Array(root.utf8), knownStrategies: knownStrategies).errorLines
    }
}

extension Result where Success == BasculeConfiguration, Failure == ConfigErrors {
    var errorLines: [String] {
        if case .failure(let errors) = self { return errors.errors.map { "\($0.path): \($0.message)" } }
        return []
    }
}
