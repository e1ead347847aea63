/// Why the proxy could not start (or a reload could not apply), naming the service and
/// address at fault.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
}
