import BasculeEventLoop
import CLinux
import Glibc

/// Choosing a backend and connecting to it; a failed connect retries on another.
extension ProxiedConnection {
    func connectToNextBackend() {
        guard let index = service.pick(clientHash: clientHash, excluding: tried) else {
            if tried.isEmpty && service.everyBackendFull {
                service.traffic.refused.bump()
                finish(.backendsFull)
            } else {
                finish(tried.isEmpty ? .noBackend : .connectFailed)
            }
            return
        }
        let table = service.table
        var address = table.backends[index].address
        let fd = cl_socket_nonblock(address.family, Int32(SOCK_STREAM.rawValue))
        if fd < 0 {
            // Out of descriptors is our limit, not the backend's fault.
            finish(.descriptorLimit)
            return
        }
        backend = fd
        backendIndex = index
        // Taken only now that there is a socket to give it back with.
        lease = BackendLease(taking: table.counters[index])
        if worker.accessLog != nil {
            backendName = table.backends[index].name
            backendAddress = address
        }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        SocketCalls.setBackendKeepAlive(fd, idleSeconds: service.keepAliveIdleSeconds,
                                        intervalSeconds: service.keepAliveIntervalSeconds,
                                        userTimeoutMs: service.backendUserTimeoutMs)

        do throws(SystemError) {
            // EINPROGRESS, the usual answer, is taken as a value like an immediate success
            // (both wait for the socket to turn writable), so the common path builds no error:
            // thrown, it cost ~160 instructions per connection (callgrind.sh). A non-blocking
            // connect answers EAGAIN only when no local port is free: a failure, not readiness.
            let attempt = try syscall("connect") {
                let result = withUnsafePointer(to: &address.storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { cl_connect(fd, $0, address.length) }
                }
                return result < 0 && errno == EINPROGRESS ? 0 : Int(result)
            }
            if case .wouldBlock = attempt {
                connectFailed(errno: EAGAIN)
                return
            }
        } catch {
            connectFailed(errno: error.errno)
            return
        }
        do throws(SystemError) {
            try worker.loop.watch(fd, handler: id, tag: Self.backendTag)
        } catch {
            connectFailed(errno: error.errno)
            return
        }
        connectDeadline = worker.loop.nowMs + service.connectTimeoutMs
        arm(at: connectDeadline)
    }

    func connectFailed(errno code: Int32) {
        let index = backendIndex
        closeDescriptor(backend)
        backend = -1
        backendIndex = -1
        guard let counters = lease?.counters else { return }
        lease = nil
        counters.recordConnectFailure(ConnectErrorReason(errno: code))
        counters.consecutiveFailures.add(1, ordering: .relaxed)
        worker.connectFailed(service: service, backend: index, counters: counters, errno: code)
        tried.append(index)
        if tried.count <= service.retries {
            service.traffic.retries.bump()
            connectToNextBackend()
        } else {
            finish(.connectFailed)
        }
    }

    func connected() {
        connecting = false
        connectedNs = cl_monotonic_ns()
        service.traffic.histograms.connect.record(nanoseconds: connectedNs &- startNs)
        if let counters = lease?.counters {
            up.counter = Unmanaged.passUnretained(counters.bytesIn[worker.index])
            down.counter = Unmanaged.passUnretained(counters.bytesOut[worker.index])
            // Written only when set, so the common path does not dirty the shared cache line.
            if counters.consecutiveFailures.load(ordering: .relaxed) != 0 {
                counters.consecutiveFailures.store(0, ordering: .relaxed)
            }
        }
        up.destinationWritable = true
        if let version = service.proxyProtocol { queueProxyHeader(version) }
        lastActivity = worker.loop.nowMs
        arm(at: lastActivity + service.idleTimeoutMs)
    }
}
