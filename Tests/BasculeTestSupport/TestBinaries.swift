#if canImport(Glibc)
import Glibc
#endif

/// Finds the package's executables in the build products directory the test binary runs from
/// (`.build/debug/`, `.build/x86_64-unknown-linux-gnu/debug/`, or inside an `.xctest` bundle).
///
/// `swift test` builds the executables too; set `BASCULE_BIN_DIR` to test other binaries.
public enum TestBinaries {
    public struct NotFound: Error, CustomStringConvertible {
        public let description: String
    }

    public static func backend() throws -> String { try path(of: "bascule-backend") }
    public static func bascule() throws -> String { try path(of: "bascule") }

    /// The absolute path of the executable `name`.
    public static func path(of name: String) throws -> String {
        if let override = getenv("BASCULE_BIN_DIR") {
            let candidate = String(decoding: override.utf8Bytes, as: UTF8.self) + "/" + name
            if isExecutable(candidate) { return candidate }
            throw NotFound(description: "BASCULE_BIN_DIR is set but \(candidate) is not an executable")
        }
        let testBinary = try currentExecutable()
        var directory = parent(of: testBinary)
        while directory != "/" && !directory.isEmpty {
            let candidate = directory + "/" + name
            if isExecutable(candidate) { return candidate }
            directory = parent(of: directory)
        }
        throw NotFound(description: "no executable '\(name)' in any directory above \(testBinary); "
                       + "run `swift build` (or `swift build --build-tests`) first")
    }

    private static func currentExecutable() throws -> String {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = buffer.withUnsafeMutableBufferPointer { pointer in
            pointer.withMemoryRebound(to: CChar.self) { readlink("/proc/self/exe", $0.baseAddress!, $0.count - 1) }
        }
        guard length > 0 else { throw NotFound(description: "readlink(/proc/self/exe) failed: errno \(errno)") }
        return String(decoding: buffer[0..<length], as: UTF8.self)
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func isExecutable(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }
}

extension UnsafeMutablePointer<CChar> {
    fileprivate var utf8Bytes: [UInt8] {
        UnsafeRawBufferPointer(start: self, count: strlen(self)).map { $0 }
    }
}
