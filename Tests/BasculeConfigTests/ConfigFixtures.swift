@testable import BasculeConfig
#if canImport(Glibc)
import Glibc
#endif

/// The strategy names the balancing library registers (DESIGN.md); config only sees names.
let knownStrategies = ["round-robin", "weighted-round-robin", "least-connections", "random",
                       "power-of-two", "source-hash", "maglev"]

/// The repository's config.json, exactly as DESIGN.md gives it.
let designConfig = #"""
{
  "workers": 0,
  "admin": { "listen": "127.0.0.1:9000", "token": "" },
  "defaults": { "connectTimeoutMs": 2000, "idleTimeoutMs": 300000, "retries": 2, "drainTimeoutMs": 30000 },
  "services": [
    {
      "name": "publishing",
      "listen": "127.0.0.1:8081",
      "strategy": "least-connections",
      "healthCheck": { "type": "http", "path": "/health", "expectStatus": [200],
                       "intervalMs": 1000, "timeoutMs": 500, "rise": 2, "fall": 2 },
      "backends": [
        { "name": "pub1", "address": "127.0.0.1:9101", "weight": 1 },
        { "name": "pub2", "address": "127.0.0.1:9102", "weight": 1 },
        { "name": "pub3", "address": "127.0.0.1:9103", "weight": 2 }
      ]
    },
    {
      "name": "management",
      "listen": "127.0.0.1:8080",
      "strategy": "source-hash",
      "healthCheck": { "type": "tcp", "intervalMs": 1000, "timeoutMs": 500, "rise": 2, "fall": 2 },
      "backends": [
        { "name": "mgmt1", "address": "127.0.0.1:9201" },
        { "name": "mgmt2", "address": "127.0.0.1:9202", "backup": true }
      ]
    }
  ]
}
"""#

func parse(_ json: String) -> Result<BasculeConfiguration, ConfigErrors> {
    ConfigLoader.parse(Array(json.utf8), knownStrategies: knownStrategies)
}

/// The errors a document produces; empty when it is valid.
func errors(_ json: String) -> [ConfigError] {
    switch parse(json) {
    case .success: return []
    case .failure(let failure): return failure.errors
    }
}

/// The error messages at `path`, for assertions that care about one field.
func messages(_ json: String, at path: String) -> [String] {
    errors(json).filter { $0.path == path }.map(\.message)
}

/// A one-service document; `service` and `backend` are extra members spliced into the first
/// service and its only backend, `top` into the root object.
func document(service: String = "", backend: String = "", top: String = "") -> String {
    #"""
    { \#(top.isEmpty ? "" : top + ",")
      "services": [ { "name": "web", "listen": "127.0.0.1:8080"\#(service.isEmpty ? "" : ", " + service),
                      "backends": [ { "name": "b1", "address": "127.0.0.1:9001"\#(backend.isEmpty ? "" : ", " + backend) } ] } ] }
    """#
}

/// A one-service document where the service's members are given whole.
func document(serviceMembers: String, top: String = "") -> String {
    "{ \(top.isEmpty ? "" : top + ",") \"services\": [ { \(serviceMembers) } ] }"
}

extension Result {
    var value: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}

struct FileWriteError: Error {}

func writeFile(_ path: String, _ contents: String) throws {
    guard let file = fopen(path, "w") else { throw FileWriteError() }
    defer { fclose(file) }
    let bytes = Array(contents.utf8)
    guard fwrite(bytes, 1, bytes.count, file) == bytes.count else { throw FileWriteError() }
}
