import BasculeEventLoop
import CLinux
import Glibc

/// Closing: counters, histograms, the access-log line, resets when one side failed.
extension ProxiedConnection {
    func finish(_ reason: CloseReason) {
        if closed { return }
        closed = true
        switch reason {
        case .noBackend, .connectFailed, .descriptorLimit: service.traffic.failed.bump()
        default: break
        }
        let durationNs = cl_monotonic_ns() &- startNs
        service.traffic.histograms.duration.record(nanoseconds: durationNs)
        if worker.accessLog != nil {
            let table = service.table
            let connected = connectedNs > 0
            worker.recordAccess(AccessLogRecord(
                worker: worker.index, sequence: sequence, service: table.config.name, listen: table.config.listen,
                client: clientAddress, backend: connected ? backendName : nil,
                backendAddress: connected ? backendAddress : nil,
                queueNs: connectStartNs > 0 ? connectStartNs &- startNs : nil,
                connectNs: connected ? connectedNs &- connectStartNs : nil,
                totalNs: durationNs, retries: connected ? tried.count : max(0, tried.count - 1),
                bytesIn: up.bytes, bytesOut: down.bytes,
                serviceActive: table.activeConnections,
                backendActive: lease?.counters.active.load(ordering: .relaxed) ?? 0,
                end: reason, backendClosedFirst: backendClosedFirst, route: route))
        }
        // When one side failed, the other is reset rather than closed: a FIN would tell it the
        // stream ended, and a download or upload cut in the middle would look complete. The
        // same for both sides of a connection still open when a shutdown's drain time is up.
        switch reason {
        case .backendError:
            SocketCalls.resetOnClose(client)
        case .backendTimedOut:
            lease?.counters.timedOut.add(1, ordering: .relaxed)
            SocketCalls.resetOnClose(client)
        case .clientError where backend >= 0:
            SocketCalls.resetOnClose(backend)
        case .clientTimedOut:
            service.traffic.clientTimedOut.bump()
            if backend >= 0 { SocketCalls.resetOnClose(backend) }
        case .shutdown, .backendDown, .failback:
            SocketCalls.resetOnClose(client)
            if backend >= 0 { SocketCalls.resetOnClose(backend) }
        default:
            break
        }
        closeDescriptor(client)
        if backend >= 0 { closeDescriptor(backend) }
        admission.release()
        lease = nil
        release(up)
        release(down)
        up = RelayDirection()
        down = RelayDirection()
        worker.loop.unregister(id)
        worker.connectionFinished(self, reason: reason)
    }

    func release(_ direction: RelayDirection) {
        if let pipe = direction.pipe {
            worker.pipes.give(pipe, empty: direction.pipeBytes == 0)
        }
        if let buffer = direction.pending {
            worker.buffers.give(buffer)
        }
    }
}
