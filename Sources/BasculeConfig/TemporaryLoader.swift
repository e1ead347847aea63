import Foundation
public struct ConfigError: Error, CustomStringConvertible, Equatable { public var path: String; public var message: String; public var description: String { "\(path): \(message)" } }
public struct ConfigErrors: Error { public var errors: [ConfigError] }
public enum ConfigLoader {
    public static func load(path: String, knownStrategies: [String]) -> Result<BasculeConfiguration, ConfigErrors> {
        guard let data = FileManager.default.contents(atPath: path), let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return .failure(ConfigErrors(errors: [ConfigError(path: "$", message: "bad")])) }
        func ep(_ s: String) -> Endpoint { let i = s.lastIndex(of: ":")!; return Endpoint(host: String(s[..<i]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: UInt16(s[s.index(after: i)...])!) }
        var c = BasculeConfiguration()
        c.workers = root["workers"] as? Int ?? 0
        for s in root["services"] as! [[String: Any]] {
            let bs = (s["backends"] as! [[String: Any]]).map { BackendConfig(name: $0["name"] as! String, address: ep($0["address"] as! String), weight: $0["weight"] as? Int ?? 1, backup: $0["backup"] as? Bool ?? false) }
            var svc = ServiceConfig(name: s["name"] as! String, listen: ep(s["listen"] as! String), strategy: "round-robin", backends: bs)
            if let t = s["idleTimeoutMs"] as? Int { svc.idleTimeoutMs = t }
            c.services.append(svc)
        }
        return .success(c)
    }
}
extension BasculeConfiguration { public func summary(resolvedWorkers: Int) -> String { "summary" } }
