#if canImport(Glibc)
import Glibc
#endif

/// The per-process open-file limit. One connection is one descriptor, and the usual soft
/// limit (1024) is below the thousands of connections the backend must hold, while the hard
/// limit is typically far higher; servers raise the soft limit themselves, as Go's runtime does.
public enum FileDescriptorLimit {
    /// Raises the soft limit to the hard limit; returns the limit now in force.
    @discardableResult
    public static func raiseToHardLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}
