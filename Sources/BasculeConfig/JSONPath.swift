/// A location in a JSON document, printed the way users write it:
/// `services[1].backends[0].address`, and `$` for the document itself.
struct JSONPath: Sendable, Equatable, CustomStringConvertible {
    enum Component: Sendable, Equatable {
        case key(String)
        case index(Int)
    }

    private(set) var components: [Component] = []

    static let root = JSONPath()

    func key(_ key: String) -> JSONPath {
        var path = self
        path.components.append(.key(key))
        return path
    }

    func index(_ index: Int) -> JSONPath {
        var path = self
        path.components.append(.index(index))
        return path
    }

    var description: String {
        if components.isEmpty { return "$" }
        var out = ""
        for component in components {
            switch component {
            case .index(let index):
                out += "[\(index)]"
            case .key(let key) where Self.isPlainKey(key):
                out += out.isEmpty ? key : "." + key
            case .key(let key):
                // A key that is not a plain identifier (an unknown key with a space, say)
                // is bracketed so the path stays unambiguous.
                out += "[\(quotedForMessage(key))]"
            }
        }
        return out
    }

    private static func isPlainKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}
