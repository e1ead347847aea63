import BasculeConfig
import BasculePosix

extension SocketAddress {
    /// From a validated config endpoint: its address is already bytes, nothing is re-parsed.
    public init(_ endpoint: Endpoint) {
        self.init(bytes: endpoint.address.bytes, port: endpoint.port)
    }
}
