import BasculeTestSupport
import Foundation
import Testing

/// The repository documents itself: every relative link in its Markdown files reaches a file
/// inside it, and nothing refers the reader to a design file outside the repository.
@Suite struct DocumentationLinksTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().standardizedFileURL

    /// Files of the repository itself: not build output, not git's, not CI's scaffolding.
    static func files(withExtensions extensions: Set<String>) -> [URL] {
        let skipped: Set<String> = [".git", ".build", ".swiftpm", ".ci", ".benchmarkBaselines"]
        guard let walker = FileManager.default.enumerator(at: repository, includingPropertiesForKeys: [.isDirectoryKey]) else { return [] }
        var found: [URL] = []
        for case let url as URL in walker {
            let name = url.lastPathComponent
            if (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true {
                if skipped.contains(name) || name.hasPrefix(".build") { walker.skipDescendants() }
                continue
            }
            if extensions.contains(url.pathExtension) { found.append(url) }
        }
        return found
    }

    @Test func everyRelativeLinkInTheMarkdownReachesAFileInsideTheRepository() throws {
        let markdown = Self.files(withExtensions: ["md"])
        #expect(markdown.contains { $0.path.hasSuffix("/docs/configuration.md") })
        let link = #/\]\(([^)\s]+)\)/#
        var checked = 0
        for file in markdown {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: link) {
                let target = String(match.output.1)
                if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("mailto:") || target.hasPrefix("#") {
                    continue
                }
                let path = String(target.prefix { $0 != "#" })
                let relative = file.path.dropFirst(Self.repository.path.count)
                #expect(!path.hasPrefix("/"), "\(relative): \(target) is an absolute path")
                let resolved = file.deletingLastPathComponent().appendingPathComponent(path).standardizedFileURL
                #expect(resolved.path.hasPrefix(Self.repository.path + "/"), "\(relative): \(target) points outside the repository")
                #expect(FileManager.default.fileExists(atPath: resolved.path), "\(relative): \(target) does not exist")
                checked += 1
            }
        }
        #expect(checked > 30, "only \(checked) links found")
    }

    @Test func nothingOutsideCIRefersToTheSharedDesignOutsideTheRepository() throws {
        let needle = ".." + "/shared"
        for file in Self.files(withExtensions: ["md", "swift", "sh", "json", "yml", "yaml", "in", "py", "service", "conf"]) {
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            #expect(!text.contains(needle), "\(file.path.dropFirst(Self.repository.path.count)) refers to \(needle)")
        }
    }
}
