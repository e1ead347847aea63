import ArgumentParser
import BasculeXDP

/// `bascule xdp-decap attach|detach --interface DEV`: the backend side of an XDP service on a
/// kernel without IP-in-IP devices (deploy/xdp/backend-setup.sh uses it when tunl0 or ip6tnl0
/// cannot be had).
struct DecapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xdp-decap",
        abstract: "Attach or detach the backend's IP-in-IP decapsulation (XDP) for \"dataPlane\": \"xdp\" services.",
        discussion: """
            For backends whose kernel has no ipip / ip6_tunnel support. The program takes the outer \
            header off IPv4-in-IPv4 and IPv6-in-IPv6 packets arriving on the interface and passes the \
            client's packet to the stack; it stays attached after this command exits.
            """
    )

    enum Action: String, ExpressibleByArgument {
        case attach, detach
    }

    @Argument(help: "attach or detach") var action: Action
    @Option(help: "The interface the balancer's packets arrive on.") var interface: String
    @Option(help: "native (default) or generic; never a silent fallback from one to the other.")
    var mode: String = "native"

    func run() throws {
        switch action {
        case .attach:
            guard let mode = XDPAttachMode(rawValue: mode) else {
                throw ValidationError("--mode: expected native or generic, got \(mode)")
            }
            let id = try XDPDecapsulator.attach(interface: interface, mode: mode)
            print("bascule_decap attached to \(interface) (\(mode.rawValue) mode, program id \(id))")
        case .detach:
            let found = try XDPDecapsulator.detach(interface: interface)
            print(found ? "bascule_decap detached from \(interface)" : "no bascule_decap on \(interface)")
        }
    }
}
