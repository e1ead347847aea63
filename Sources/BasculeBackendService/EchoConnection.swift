#if canImport(Glibc)
import BasculePosix
import Glibc
#endif

/// Raw TCP echo: everything read is written back until the client half-closes.
struct EchoConnection {
    let fd: Int32

    func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer {
            buffer.deallocate()
            close(fd)
        }
        do {
            while true {
                let count = try BlockingSocket.read(fd, into: buffer)
                if count == 0 {
                    // Client half-closed: everything it sent is echoed already, so signal our
                    // end of stream too; a plain close could reset data still in flight.
                    BlockingSocket.shutdownWrite(fd)
                    return
                }
                try BlockingSocket.writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            }
        } catch {
            // Peer reset or timed out: nothing to report to anyone.
        }
    }
}
