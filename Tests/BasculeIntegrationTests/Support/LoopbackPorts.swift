import BasculeBackendService
#if canImport(Glibc)
import Glibc
#endif

/// A port that was free on 127.0.0.1 a moment ago, for configs that need a port before the
/// process using it starts. Another process may take it in between; prefer `--listen …:0`
/// and reading the real port back wherever the program supports it.
func freeLoopbackPort() throws -> UInt16 {
    let fd = try BlockingSocket.listen(on: BasculeBackendService.SocketAddress(host: "127.0.0.1", port: 0), backlog: 1)
    defer { close(fd) }
    return try BlockingSocket.boundPort(fd)
}
