import BasculePosix
import Glibc
import Logging

/// The worker's side of routing by TLS server name: the buffers every intake shares, the
/// services intakes hand clients to, and what a refused client leaves behind.
extension Worker {
    /// Where intakes peek at a client's first bytes (room for a PROXY header and the largest
    /// ClientHello allowed) and where the reader gathers a ClientHello split over records.
    /// Allocated once, at the first routed connection, and reused by every later one.
    func clientHelloBuffers(maxBytes: Int) -> (peek: UnsafeMutableRawBufferPointer, scratch: UnsafeMutableRawBufferPointer) {
        let peekBytes = maxBytes + ServerNameIntake.proxyHeaderRoom
        if clientHelloPeek.count < peekBytes {
            clientHelloPeek.deallocate()
            clientHelloPeek = .allocate(byteCount: peekBytes, alignment: 16)
        }
        if clientHelloScratch.count < maxBytes {
            clientHelloScratch.deallocate()
            clientHelloScratch = .allocate(byteCount: maxBytes, alignment: 16)
        }
        return (UnsafeMutableRawBufferPointer(rebasing: clientHelloPeek[0..<peekBytes]),
                UnsafeMutableRawBufferPointer(rebasing: clientHelloScratch[0..<maxBytes]))
    }

    func intakeStarted() {
        pendingIntakes += 1
    }

    /// A client reset at intake: no service took it. Logged like other refusals (at most once
    /// a second per worker) and in the access log as route "refused".
    func routeRefused(_ address: RoutedAddress, peer: SocketAddress, reason: String, badClientHello: Bool, waitedNs: UInt64) {
        noteRefusal(["listen": "\(address.listen)"], "refused by server-name routing (\(reason))", peer: peer)
        if accessLog != nil {
            recordAccess(AccessLogRecord(
                worker: index, sequence: acceptedSequence, service: "", listen: address.listen, client: peer,
                backend: nil, backendAddress: nil, queueNs: nil, connectNs: nil, totalNs: waitedNs, retries: 0,
                bytesIn: 0, bytesOut: 0, serviceActive: 0, backendActive: 0,
                end: badClientHello ? .badClientHello : .noRoute, backendClosedFirst: false, route: "refused"))
        }
    }
}
