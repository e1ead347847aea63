#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads config.json into a validated `BasculeConfiguration`, or every error in it.
///
/// Config knows nothing of the balancing library: the caller passes the names of the
/// strategies it can build (`StrategyRegistry.names`).
public enum ConfigLoader {
    /// Files larger than this are refused before parsing; a real config is a few kilobytes,
    /// and a mistaken path (a log, /dev/zero) must not exhaust memory.
    public static let maximumFileSize = 16 << 20

    public static func parse(_ bytes: [UInt8], knownStrategies: [String]) -> Result<BasculeConfiguration, ConfigErrors> {
        let document: JSONValue
        switch JSONParser.parse(bytes) {
        case .success(let value):
            document = value
        case .failure(let syntaxError):
            return .failure(ConfigErrors([ConfigError(path: syntaxError.path, message: syntaxError.description)]))
        }
        var validator = ConfigValidator(knownStrategies: knownStrategies)
        let configuration = validator.configuration(from: document)
        return validator.errors.isEmpty ? .success(configuration) : .failure(ConfigErrors(validator.errors))
    }

    public static func load(path: String, knownStrategies: [String]) -> Result<BasculeConfiguration, ConfigErrors> {
        switch readFile(path) {
        case .success(let bytes):
            return parse(bytes, knownStrategies: knownStrategies)
        case .failure(let error):
            return .failure(ConfigErrors([error]))
        }
    }

    private static func readFile(_ path: String) -> Result<[UInt8], ConfigError> {
        func failure(_ reason: String) -> Result<[UInt8], ConfigError> {
            .failure(ConfigError(path: "$", message: "cannot read \(quotedForMessage(path)): \(reason)"))
        }
        guard !path.utf8.contains(0) else { return failure("the path contains a NUL character") }
        // Non-blocking, and only a regular file is read: opening or reading a FIFO blocks until
        // someone writes into it, which on a reload would stop the control thread (admin, health
        // checks, SIGTERM) and hang `bascule check`.
        var descriptor: Int32
        repeat {
            descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else { return failure(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return failure(String(cString: strerror(errno))) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return failure("not a regular file but \(fileKind(info.st_mode))")
        }
        guard info.st_size <= maximumFileSize else {
            return failure("file is larger than \(maximumFileSize >> 20) MiB")
        }

        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return failure(String(cString: strerror(errno)))
            }
            if count == 0 { return .success(bytes) }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maximumFileSize {
                return failure("file is larger than \(maximumFileSize >> 20) MiB")
            }
        }
    }

    private static func fileKind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFDIR: "a directory"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "a special file"
        }
    }
}
