import BasculeConfig

/// What the running process and its successor say on the upgrade socket, one JSON object per
/// seqpacket message. The successor speaks first (`takeover`); the running process answers
/// with an `offer` naming every listening socket by address, followed by the descriptors
/// themselves in as many messages as SCM_MAX_FD requires; the successor says `serving` once
/// its workers accept on them, and the old process, when its last connection has finished,
/// says `drained` and exits. `bascule upgrade` asks the running process to start its
/// successor (`spawn`) and hears how the handover ended (`handedOver` or `refused`).
enum HandoverMessage: Equatable {
    case takeover(pid: Int32, version: String)
    /// `groups` in the order their descriptors follow; `admin` comes first when present.
    case offer(pid: Int32, version: String, admin: String?, groups: [Group], descriptorMessages: Int)
    case serving(pid: Int32, adminTaken: Bool)
    case drained(drainMs: Int, timedOut: Bool)
    case spawn(executable: String)
    case handedOver(pid: Int32)
    case refused(String)

    struct Group: Equatable {
        let listen: String
        let count: Int
    }

    var encoded: String {
        let members: [(String, JSONValue)]
        switch self {
        case .takeover(let pid, let version):
            members = [("type", .string("takeover")), ("pid", .int(Int(pid))), ("version", .string(version))]
        case .offer(let pid, let version, let admin, let groups, let descriptorMessages):
            members = [
                ("type", .string("offer")), ("pid", .int(Int(pid))), ("version", .string(version)),
                ("admin", admin.map { .string($0) } ?? .null),
                ("listeners", .array(groups.map { .object([("listen", .string($0.listen)), ("count", .int($0.count))]) })),
                ("descriptorMessages", .int(descriptorMessages)),
            ]
        case .serving(let pid, let adminTaken):
            members = [("type", .string("serving")), ("pid", .int(Int(pid))), ("adminTaken", .bool(adminTaken))]
        case .drained(let drainMs, let timedOut):
            members = [("type", .string("drained")), ("drainMs", .int(drainMs)), ("timedOut", .bool(timedOut))]
        case .spawn(let executable):
            members = [("type", .string("spawn")), ("executable", .string(executable))]
        case .handedOver(let pid):
            members = [("type", .string("handedOver")), ("pid", .int(Int(pid)))]
        case .refused(let reason):
            members = [("type", .string("refused")), ("reason", .string(reason))]
        }
        return JSONValue.object(members).rendered
    }

    init?(_ bytes: [UInt8]) {
        guard case .success(let document) = JSONParser.parse(bytes), let type = document["type"]?.string else { return nil }
        let pid = Int32(clamping: document["pid"]?.int ?? 0)
        switch type {
        case "takeover":
            self = .takeover(pid: pid, version: document["version"]?.string ?? "?")
        case "offer":
            var groups: [Group] = []
            if case .array(let entries)? = document["listeners"] {
                for entry in entries {
                    guard let listen = entry["listen"]?.string, let count = entry["count"]?.int, count >= 0 else { return nil }
                    groups.append(Group(listen: listen, count: count))
                }
            }
            guard let descriptorMessages = document["descriptorMessages"]?.int, descriptorMessages >= 0 else { return nil }
            self = .offer(pid: pid, version: document["version"]?.string ?? "?", admin: document["admin"]?.string,
                          groups: groups, descriptorMessages: descriptorMessages)
        case "serving":
            self = .serving(pid: pid, adminTaken: document["adminTaken"] == .bool(true))
        case "drained":
            self = .drained(drainMs: document["drainMs"]?.int ?? 0, timedOut: document["timedOut"] == .bool(true))
        case "spawn":
            guard let executable = document["executable"]?.string else { return nil }
            self = .spawn(executable: executable)
        case "handedOver":
            self = .handedOver(pid: pid)
        case "refused":
            self = .refused(document["reason"]?.string ?? "refused")
        default:
            return nil
        }
    }
}

extension JSONValue {
    fileprivate var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    fileprivate var int: Int? {
        if case .number(let number) = self { return number.intValue }
        return nil
    }
}
