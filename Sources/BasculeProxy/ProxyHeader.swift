import BasculePosix

/// What a PROXY protocol header (v1 or v2) said about the connection it precedes.
public struct ProxyHeader: Sendable {
    public enum Version: Sendable, Equatable { case v1, v2 }

    /// `local`: the upstream opened the connection itself (a health check); use the real
    /// endpoints. v1 has no such command: its UNKNOWN lines parse as `proxy` without addresses.
    public enum Command: Sendable, Equatable { case local, proxy }

    /// The v2 address family byte's high nibble; v1 lines map TCP4/TCP6/UNKNOWN onto it.
    public enum AddressFamily: Sendable, Equatable { case unspecified, inet, inet6, unix }

    /// The v2 family byte's low nibble; v1 lines are always `stream` (or `unspecified` for UNKNOWN).
    public enum Transport: Sendable, Equatable { case unspecified, stream, datagram }

    public var version: Version
    public var command: Command
    public var family: AddressFamily
    public var transport: Transport
    /// The original client, or nil when the header says to use the real connection's
    /// endpoints: LOCAL, UNKNOWN, UNSPEC, and families or transports a TCP relay cannot
    /// represent (AF_UNIX, DGRAM), which the spec lets a receiver treat as UNSPEC.
    public var source: SocketAddress?
    /// The address the client connected to, nil exactly when `source` is.
    public var destination: SocketAddress?

    public init(version: Version, command: Command, family: AddressFamily, transport: Transport,
                source: SocketAddress?, destination: SocketAddress?) {
        self.version = version
        self.command = command
        self.family = family
        self.transport = transport
        self.source = source
        self.destination = destination
    }
}
