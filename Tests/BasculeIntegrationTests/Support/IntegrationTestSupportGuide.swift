// How integration tests use this directory (a guide; no code lives in this file).
//
// The generic pieces live in Tests/BasculeTestSupport, shared by every test target:
// ManagedProcess (children die with the runner: PDEATHSIG, set by the C part in
// Tests/CBasculeTestSupport), CommandRun, TestBinaries, freeLoopbackPort, waitUntil, TCPClient,
// TestHTTPClient, TestClient (raw exchanges), LoopbackHTTPServer (on an EventLoop), OpenSSLServer
// and TestCertificates, TestThread. This directory keeps what only integration tests need:
// BackendProcess, BalancerProcess, the fault helpers and the scale-out lab.
//
// Start real processes on loopback, talk to them with real sockets, stop them always:
//
//     @Suite("…", .serialized, .timeLimit(.minutes(2)))
//     struct KillingABackendTests {
//         @Test func killingABackendMidDownloadResumesOnASurvivor() throws {
//             let (pub1, port1) = try BackendProcess.start(name: "pub1")    // 127.0.0.1:0, port read back
//             defer { pub1.terminate() }                                     // SIGTERM, then SIGKILL, reaped
//             let balancerPort = try freeLoopbackPort()                     // only where a port is needed up front
//             let balancer = try ManagedProcess(executable: TestBinaries.bascule(),
//                                               arguments: ["run", "--config", configPath])
//             try balancer.waitForLine(containing: "listening")             // readiness: a line, never a sleep
//             try waitUntil("pub1 is up in /status") { try TestHTTPClient().get(port: adminPort, path: "/status").status == 200 }
//
//             let hasher = SHA256Hasher()
//             let head = try TestHTTPClient().download(port: balancerPort, path: "/content/pkg-c?size=64M",
//                                                      stopAfter: 16 << 20) { hasher.update($0) }
//             pub1.signal(SIGKILL)
//             let tail = try TestHTTPClient().download(port: balancerPort, path: "/content/pkg-c?size=64M",
//                                                      headers: [("Range", "bytes=\(head.bytesReceived)-")]) { hasher.update($0) }
//             #expect(hasher.finalize() == ContentGenerator(name: "pkg-c").sha256(size: 64 << 20))
//         }
//     }
//
// Rules the helpers rely on:
// - Only 127.0.0.1 and ::1, ports chosen at run time (`--listen 127.0.0.1:0` or freeLoopbackPort()).
// - A ManagedProcess released without terminate() is SIGKILLed with its process group and
//   reaped, so a thrown error never leaks a process; call terminate() to check the exit status.
//   If the runner itself is killed, the kernel kills its children (PR_SET_PDEATHSIG).
// - Failure messages should carry `process.recentOutput()`; waitForLine already includes it.
// - Every socket in TCPClient/TestHTTPClient has a timeout (10 s by default): a hang becomes
//   a failure naming the call, not a stuck CI job.
