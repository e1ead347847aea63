import BasculeConfig
import BasculeEventLoop
import CLinux
import Glibc

/// PROXY protocol: reading an upstream balancer's header before choosing a backend, and
/// writing one for the backend ahead of the client's bytes.
extension ProxiedConnection {
    /// Reads the upstream balancer's header without consuming what follows it: peek, parse,
    /// then read exactly the header's bytes, so the client's own data stays in the socket.
    func readProxyHeader() {
        let scratch = worker.scratch
        let window = min(scratch.count, 4096)
        let peeked: Int
        switch try? syscall("recv", { Glibc.recv(client, scratch.baseAddress, window, Int32(MSG_PEEK)) }) {
        case .processed(let count)?: peeked = count
        case .wouldBlock?: return
        case nil: finish(.clientError); return
        }
        if peeked == 0 {
            rejectProxyHeader()
            return
        }
        switch ProxyProtocolParser.parse(UnsafeRawBufferPointer(rebasing: scratch[0..<peeked]), limit: window) {
        case .needMoreData:
            // A client that closed after half a header will send no more: refused now, not
            // at the deadline, so it does not hold its places under the limits meanwhile.
            if peeked == window || up.sourceHangupSeen { rejectProxyHeader() }
        case .invalid:
            rejectProxyHeader()
        case .complete(let header, let consumed):
            guard Glibc.recv(client, scratch.baseAddress, consumed, 0) == consumed else {
                finish(.clientError)
                return
            }
            awaitingProxyHeader = false
            if worker.accessLog != nil { connectStartNs = cl_monotonic_ns() }
            if let source = header.source { clientAddress = source }
            destinationAddress = header.destination
            // Process and service places were taken at accept; the client's is taken now.
            let table = service.table
            if let refusal = worker.admit(&admission, service, table, address: clientAddress, at: .proxyHeader) {
                finish(refusal)
                return
            }
            if service.wantsClientHash {
                clientHash = Worker.clientHash(clientAddress, network: table.config.affinity == .network)
            }
            connectToNextBackend()
        }
    }

    func rejectProxyHeader() {
        service.traffic.rejectedProxyHeaders.bump()
        finish(.badProxyHeader)
    }

    /// Queues the PROXY header for the backend ahead of any client byte.
    func queueProxyHeader(_ version: ProxyProtocolVersion) {
        let destination = destinationAddress ?? SocketCalls.localAddress(client)
        let buffer = worker.buffers.take()
        let room = UnsafeMutableRawBufferPointer(start: buffer, count: worker.buffers.bufferSize)
        let length = version == .v1
            ? ProxyProtocolEncoder.v1(source: clientAddress, destination: destination, into: room)
            : ProxyProtocolEncoder.v2(source: clientAddress, destination: destination, into: room)
        up.pending = buffer
        up.pendingStart = 0
        up.pendingEnd = length
    }
}
