@testable import BasculeXDP
import BasculeTestSupport
import Foundation
import Testing

/// A program the kernel refuses is reported with the verifier's own log, not just an errno.
@Suite(.enabled(if: XDPLab.isAvailable))
struct XDPLoadFailureTests {
    @Test func aProgramTheVerifierRefusesFailsWithTheVerifiersLog() throws {
        let directory = NSTemporaryDirectory() + "/bx-verifier-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Reads a packet byte without checking it is inside the packet: the verifier's job.
        try """
            #include <linux/bpf.h>
            __attribute__((section("xdp"), used)) int bascule_unchecked(struct xdp_md *ctx) {
                unsigned char *data = (unsigned char *)(long)ctx->data;
                return data[40] == 1 ? XDP_DROP : XDP_PASS;
            }
            char _license[] __attribute__((section("license"), used)) = "GPL";
            """.write(toFile: directory + "/unchecked.c", atomically: true, encoding: .utf8)
        var machine = utsname()
        uname(&machine)
        let arch = withUnsafeBytes(of: &machine.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        _ = try CommandRun.succeeding(CommandRun.which("clang")!, ["-O2", "-g", "-target", "bpf", "-I/usr/include/\(arch)-linux-gnu",
                                                                    "-c", directory + "/unchecked.c", "-o", directory + "/unchecked.o"])
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/unchecked.o")))
        let object = XDPProgramObject(programName: "bascule_unchecked", bytes: bytes)
        do {
            _ = try XDPProgram(object, interface: "lo", mode: .native)
            Issue.record("the verifier accepted an unchecked packet access")
        } catch let error as XDPError {
            #expect(error.step.contains("verifier"))
            // The verifier's reason, as it wrote it: "invalid access to packet, off=40 size=1, R1(id=0,off=40,r=0)".
            #expect(error.log.contains("invalid access to packet"), "\(error.log)")
            #expect(error.description.contains("--- libbpf / verifier log ---"))
        }
    }
}
