import Testing
@testable import BasculeConfig

/// A backend posted to the admin API meets exactly the rules of a backend in the file.
@Suite struct RuntimeBackendValidationTests {
    private let service = parse(document()).value!.services[0]

    private func posted(_ json: String, taken: [String] = ["b1"]) -> Result<BackendConfig, ConfigErrors> {
        RuntimeBackendValidation.backend(json: Array(json.utf8), service: service, takenNames: taken)
    }

    @Test func everyBackendRuleOfTheFileGivesTheSameMessageForAPostedBackend() {
        // Each bad backend, once as the file's second backend and once posted: same messages,
        // paths from `services[0].backends[1]` in the file and from `$` when posted.
        let cases = [
            #"{"name": "b2", "address": "127.0.0.1:0"}"#,
            #"{"name": "b2", "address": "db.example:5432x"}"#,
            #"{"name": "b2", "address": "127.0.0.1:9002", "weight": 0}"#,
            #"{"name": "b2", "address": "127.0.0.1:9002", "backup": "yes"}"#,
            #"{"name": "b 2", "address": "127.0.0.1:9002", "wieght": 3}"#,
            #"{"name": "b1", "address": "127.0.0.1:9002"}"#,
            #"{"address": "127.0.0.1:8080"}"#,
            #"{"name": "b2", "address": "127.0.0.1:9002", "agent": {"port": 70000}}"#,
        ]
        for backend in cases {
            let inFile = errors(document(serviceMembers: #"""
                "name": "web", "listen": "127.0.0.1:8080",
                "backends": [ { "name": "b1", "address": "127.0.0.1:9001" }, \#(backend) ]
                """#))
            guard case .failure(let failure) = posted(backend) else {
                Issue.record("accepted: \(backend)")
                continue
            }
            #expect(!inFile.isEmpty, "\(backend)")
            #expect(failure.errors.map(\.message) == inFile.map(\.message), "\(backend)")
            #expect(failure.errors.map(\.path) == inFile.map { $0.path.replacingPrefix("services[0].backends[1]", with: "$") },
                    "\(backend)")
        }
    }

    @Test func aValidBackendComesBackWithTheFileDefaults() throws {
        let backend = try posted(#"{"name": "b2", "address": "[2001:db8::7]:9002", "weight": 4}"#).get()
        #expect(backend.name == "b2")
        #expect(backend.address.description == "[2001:db8::7]:9002")
        #expect(backend.weight == 4)
        #expect(!backend.backup)
    }

    @Test func malformedJSONAndNonObjectsAreRefused() {
        guard case .failure(let syntax) = posted(#"{"name": "b2", "#) else { Issue.record("accepted"); return }
        #expect(!syntax.errors.isEmpty)
        guard case .failure(let array) = posted("[]") else { Issue.record("accepted"); return }
        #expect(array.errors.map(\.path) == ["$"])
        #expect(array.errors.first?.message.hasPrefix("expected an object") == true)
    }
}

extension String {
    /// `services[0].backends[1].name` → `$.name`: the path as seen from the posted object.
    fileprivate func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
