import Foundation
import PackagePlugin

/// Compiles the target's XDP programs (`BPF/xdp_forward.c`, `BPF/xdp_decap.c`) with clang for the BPF target on
/// every build that changes it, and embeds the object's bytes in a generated Swift source, so
/// `swift build` on a clean checkout produces the program from C (no committed binary) and the
/// loader opens it from memory.
@main
struct BPFObjectPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let embedder = try context.tool(named: "BPFObjectEmbedder")
        let forward = target.directoryURL.appending(path: "BPF/xdp_forward.c")
        let decap = target.directoryURL.appending(path: "BPF/xdp_decap.c")
        let includes = context.package.directoryURL.appending(path: "Sources/CBPF/include")
        let header = includes.appending(path: "xdp_maps.h")
        let output = context.pluginWorkDirectoryURL.appending(path: "XDPProgramObjectHex.swift")
        // The toolchain's clang when the plugin can see it; the embedder otherwise searches
        // $BASCULE_CLANG and $PATH.
        let clang = (try? context.tool(named: "clang").url.path) ?? "clang"
        return [
            .buildCommand(displayName: "Compiling the XDP program with clang -target bpf",
                          executable: embedder.url,
                          arguments: [clang, includes.path, output.path,
                                      "xdpForwardObjectHex=\(forward.path)", "xdpDecapObjectHex=\(decap.path)"],
                          inputFiles: [forward, decap, header],
                          outputFiles: [output]),
        ]
    }
}
