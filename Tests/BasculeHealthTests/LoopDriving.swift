import BasculeConfig
import BasculeEventLoop
import BasculeHealth
import CLinux
import Logging

/// Runs the loop until `condition` holds or `timeoutMs` passes; true when it held. The
/// loop is the only clock the tests wait on.
@discardableResult
func drive(_ loop: EventLoop, timeoutMs: UInt64, until condition: () -> Bool) throws -> Bool {
    let deadline = cl_monotonic_ns() + timeoutMs * 1_000_000
    while !condition() {
        if cl_monotonic_ns() >= deadline { return false }
        try loop.runOnce(maxWaitMs: 10)
    }
    return true
}

func millisecondsSince(_ startNs: UInt64) -> UInt64 {
    (cl_monotonic_ns() - startNs) / 1_000_000
}

let testLog: Logger = {
    var log = Logger(label: "bascule.health.test")
    log.logLevel = .notice
    return log
}()

/// One service "web" whose backends `b0`, `b1`... sit on the given loopback ports.
func configuration(_ check: HealthCheckConfig, ports: [UInt16], host: String = "127.0.0.1") -> BasculeConfiguration {
    let backends = ports.enumerated().map { index, port in
        BackendConfig(name: "b\(index)", address: Endpoint(host: host, port: port))
    }
    return BasculeConfiguration(services: [
        ServiceConfig(name: "web", listen: Endpoint(host: "127.0.0.1", port: 0), healthCheck: check, backends: backends),
    ])
}
