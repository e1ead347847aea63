#if canImport(Glibc)
import Glibc
#endif

/// Whether this test process can make network namespaces: root, and `ip netns add` working
/// (a container may refuse it even to root). Each namespace suite adds the tools it needs.
public enum NamespaceProbe {
    /// Why no namespace can be made here, or nil. Makes and removes one namespace named
    /// `prefix` plus the pid, so parallel test processes do not collide.
    public static func unavailableReason(prefix: String) -> String? {
        guard geteuid() == 0 else { return "not root (network namespaces need CAP_SYS_ADMIN)" }
        guard CommandRun.which("ip") != nil else { return "ip is not installed" }
        let probe = "\(prefix)\(getpid())"
        let made = try? CommandRun.run("/bin/sh", ["-c", "ip netns add \(probe) && ip netns del \(probe)"], timeout: .seconds(10))
        guard made?.status == 0 else { return "cannot create a network namespace: \(made?.output ?? "ip failed to run")" }
        return nil
    }
}
