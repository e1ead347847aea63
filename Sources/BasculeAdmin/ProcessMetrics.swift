import Glibc

/// Process figures read from /proc at scrape time. These are small in-memory files, so the
/// reads do not block the loop the way a disk read could.
enum ProcessMetrics {
    /// Descriptors open now, not counting the one used to list them.
    static func openDescriptors() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { name in
                name[0] == UInt8(ascii: ".") && (name[1] == 0 || (name[1] == UInt8(ascii: ".") && name[2] == 0))
            }
            if !isDot { count += 1 }
        }
        return count - 1
    }

    static func residentMemoryBytes() -> Int? {
        guard let statm = readSmallFile("/proc/self/statm") else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * sysconf(Int32(_SC_PAGESIZE))
    }

    /// Seconds since the process started: its start time in /proc/self/stat (clock ticks
    /// after boot) against /proc/uptime, so it is right even if the admin server started late.
    static func uptimeSeconds() -> Double? {
        guard let stat = readSmallFile("/proc/self/stat"), let uptimeText = readSmallFile("/proc/uptime"),
              let systemUptime = uptimeText.split(separator: " ").first.flatMap({ Double($0) }),
              let commandEnd = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name start at field 3 (state); starttime is field 22.
        let fields = stat[stat.index(after: commandEnd)...].split(separator: " ")
        guard fields.count > 19, let startTicks = Double(fields[19]) else { return nil }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        // Both inputs have 10 ms resolution; rounding drops the subtraction noise.
        return max(0, ((systemUptime - startTicks / ticksPerSecond) * 100).rounded() / 100)
    }

    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        var total = 0
        while total < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, $0.count - total) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            total += count
        }
        return String(decoding: bytes[0..<total], as: UTF8.self)
    }
}
