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

    /// The standard `process_*` families (the names client libraries export), so stock
    /// dashboards and descriptor alerts work unchanged.
    static func rendered() -> String {
        var cpu = MetricFamily(name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.", type: .counter)
        var openFds = MetricFamily(name: "process_open_fds", help: "Number of open file descriptors.", type: .gauge)
        var maxFds = MetricFamily(name: "process_max_fds", help: "Maximum number of open file descriptors.", type: .gauge)
        var resident = MetricFamily(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.", type: .gauge)
        var virtual = MetricFamily(name: "process_virtual_memory_bytes", help: "Virtual memory size in bytes.", type: .gauge)
        var start = MetricFamily(name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.", type: .gauge)
        let stat = selfStat()
        if let stat {
            cpu.add(stat.cpuSeconds)
            resident.add(stat.residentBytes)
            virtual.add(stat.virtualBytes)
            if let boot = bootTimeSeconds() { start.add(boot + stat.startSecondsAfterBoot) }
        }
        if let count = openDescriptors() { openFds.add(count) }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxFds.add(Double(limit.rlim_cur)) }
        return [cpu, openFds, maxFds, resident, virtual, start].map(\.rendered).joined()
    }

    struct SelfStat {
        var cpuSeconds: Double
        var virtualBytes: Double
        var residentBytes: Double
        var startSecondsAfterBoot: Double
    }

    /// /proc/self/stat: utime and stime (fields 14, 15), starttime (22), vsize (23), rss in
    /// pages (24). Fields are counted after the command name, which may contain spaces.
    static func selfStat() -> SelfStat? {
        guard let stat = readSmallFile("/proc/self/stat"), let commandEnd = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: commandEnd)...].split(separator: " ")
        // fields[0] is field 3 (state).
        guard fields.count > 21, let user = Double(fields[11]), let system = Double(fields[12]),
              let startTicks = Double(fields[19]), let virtual = Double(fields[20]), let pages = Double(fields[21]) else { return nil }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        return SelfStat(cpuSeconds: (user + system) / ticksPerSecond, virtualBytes: virtual,
                        residentBytes: pages * Double(sysconf(Int32(_SC_PAGESIZE))),
                        startSecondsAfterBoot: startTicks / ticksPerSecond)
    }

    /// `btime` in /proc/stat: the boot moment that process start times count from.
    static func bootTimeSeconds() -> Double? {
        guard let text = readLargerFile("/proc/stat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return line.dropFirst(6).split(separator: " ").first.flatMap { Double($0) }
        }
        return nil
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

    /// /proc/stat grows with the CPU count; read it whole.
    static func readLargerFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while bytes.count < 4 << 20 {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
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
