import CBPF

/// What the program did with a packet, counted per CPU in its `verdicts` map (same order as
/// `enum bascule_verdict` in xdp_maps.h). The names are the Prometheus label values.
public enum XDPVerdict: Int, CaseIterable, Sendable {
    case transmitted
    case redirected
    case passedNotIP
    case passedMalformed
    case passedNotVirtualAddress
    case passedOtherPortOrProtocol
    case droppedMalformed
    case droppedTruncated
    case droppedIPOptions
    case droppedFragment
    case droppedNoBackend
    case droppedNoRoute
    case droppedNoNeighbour
    case droppedTooBig
    case droppedNoHeadroom

    public var action: String {
        switch self {
        case .transmitted, .redirected: "forwarded"
        case .passedNotIP, .passedMalformed, .passedNotVirtualAddress, .passedOtherPortOrProtocol: "passed"
        default: "dropped"
        }
    }

    public var reason: String {
        switch self {
        case .transmitted: "tx"
        case .redirected: "redirect"
        case .passedNotIP: "not_ip"
        case .passedMalformed: "truncated_before_address"
        case .passedNotVirtualAddress: "not_vip"
        case .passedOtherPortOrProtocol: "vip_other_port_or_protocol"
        case .droppedMalformed: "malformed"
        case .droppedTruncated: "truncated"
        case .droppedIPOptions: "ip_options"
        case .droppedFragment: "fragment"
        case .droppedNoBackend: "no_backend"
        case .droppedNoRoute: "no_route"
        case .droppedNoNeighbour: "no_neighbour"
        case .droppedTooBig: "too_big"
        case .droppedNoHeadroom: "no_headroom"
        }
    }

    static let count = Int(VERDICT_COUNT.rawValue)
}
