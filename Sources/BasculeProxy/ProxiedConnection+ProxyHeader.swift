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
        var buffer = UnsafeMutableRawBufferPointer(rebasing: worker.scratch[0..<min(worker.scratch.count, 4096)])
        // A v2 header may carry TLVs up to 16 + 65,535 bytes in all (the spec's limit): one
        // that declares more than the scratch window is peeked into a buffer of its size,
        // allocated only for such a header.
        var large: UnsafeMutableRawBufferPointer?
        defer { large?.deallocate() }
        var peeked = 0
        while true {
            switch try? syscall("recv", { Glibc.recv(client, buffer.baseAddress, buffer.count, Int32(MSG_PEEK)) }) {
            case .processed(let count)?: peeked = count
            case .wouldBlock?: return
            case nil: finish(.clientError); return
            }
            if peeked == buffer.count, large == nil,
               let declared = ProxyProtocolParser.declaredV2Length(UnsafeRawBufferPointer(rebasing: buffer[0..<peeked])),
               declared > buffer.count {
                large = UnsafeMutableRawBufferPointer.allocate(byteCount: declared, alignment: 16)
                buffer = large!
                continue
            }
            break
        }
        if peeked == 0 {
            rejectProxyHeader()
            return
        }
        switch ProxyProtocolParser.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<peeked]), limit: max(buffer.count, 4096)) {
        case .needMoreData:
            // A client that closed after half a header will send no more: refused now, not
            // at the deadline, so it does not hold its places under the limits meanwhile.
            if peeked == buffer.count || up.sourceHangupSeen { rejectProxyHeader() }
        case .invalid:
            rejectProxyHeader()
        case .complete(let header, let consumed):
            guard Glibc.recv(client, buffer.baseAddress, consumed, 0) == consumed else {
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
