import Glibc

/// SIGPIPE, ignored once per process. splice() into a socket whose peer reset, and OpenSSL's
/// write(2), cannot ask for MSG_NOSIGNAL: without this, one backend resetting mid-transfer or
/// mid-handshake would kill the balancer. Every event loop asks for it when created (all such
/// writes happen on a loop), and so does the test backend's main.
public enum BrokenPipe {
    public static func ignore() {
        _ = ignored
    }

    private static let ignored: Void = {
        signal(SIGPIPE, SIG_IGN)
    }()
}
