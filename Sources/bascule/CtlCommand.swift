import ArgumentParser
import BasculeConfig

struct CtlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Act on a running balancer through its admin endpoint.",
        discussion: """
            Reads the admin address and token from the configuration file: --config, else \
            $BASCULE_CONFIG, else /etc/bascule/config.json (or give --admin/--token). Prints \
            tables for people; --json prints the admin endpoint's JSON for scripts. Exit status \
            1 when the balancer refused the action (a rejected reload included), 2 for a \
            configuration file that cannot be read. Examples:
              bascule ctl status
              bascule ctl drain publishing pub2
              bascule ctl enable publishing pub2
              bascule ctl weight publishing pub3 4
              bascule ctl add-backend publishing '{"name": "pub4", "address": "10.0.0.4:8080"}'
              bascule ctl remove-backend publishing pub4   (drained first, then removed)
              bascule ctl reload
              bascule ctl drain-node      (maintenance: /readyz turns 503, traffic still served)
              bascule ctl resume-node
            """,
        subcommands: [Status.self, Drain.self, Disable.self, Enable.self, Weight.self, AddBackend.self,
                      RemoveBackend.self, Reload.self,
                      DrainNode.self, ResumeNode.self]
    )

    struct Target: ParsableArguments {
        @Option(name: [.customShort("c"), .customLong("config")],
                help: "Configuration file to read admin.listen and admin.token from (default: $BASCULE_CONFIG, else /etc/bascule/config.json).")
        var configOption: String?

        @Option(help: "Admin address (HOST:PORT); overrides the configuration file.")
        var admin: String?

        @Option(help: "Bearer token; overrides the configuration file.")
        var token: String?

        @Flag(help: "Print the admin endpoint's JSON answer instead of a table.")
        var json = false

        var config: String { ConfigurationFile.path(configOption) }

        func client() throws -> AdminClient {
            if let admin {
                guard let endpoint = Endpoint(parsing: admin) else {
                    throw ValidationError("--admin must be an IP literal and a port (127.0.0.1:9000, [::1]:9000), got \"\(admin)\"")
                }
                // With an explicit address the file is only a source for the token, if readable.
                let fileToken = (try? ConfigurationFile.load(config).get())?.admin.token ?? ""
                return AdminClient(endpoint: endpoint, token: token ?? fileToken)
            }
            switch ConfigurationFile.load(config) {
            case .success(let configuration):
                return AdminClient(endpoint: configuration.admin.listen, token: token ?? configuration.admin.token)
            case .failure(let failure):
                // One message: ctl only needs admin.listen, so the file's first error says enough.
                var stderr = StandardError()
                let more = failure.errors.count > 1 ? " (and \(failure.errors.count - 1) more; see bascule check)" : ""
                Swift.print("bascule ctl: \(config): \(failure.errors.first.map { "\($0)" } ?? "unreadable")\(more)", to: &stderr)
                throw ExitCode(2)
            }
        }
    }

    /// One request; a success is shown by `render` (or as JSON), a failure as exactly one
    /// line on standard error and exit status 1.
    static func perform(_ target: Target, method: String, path: String, body: String = "",
                        render: (JSONValue) -> String) throws {
        let response: AdminClient.Response
        do {
            response = try target.client().send(method: method, path: path, body: body)
        } catch let error as DemoError {
            fail(error.description)
        }
        let document = try? JSONParser.parse(response.body).get()
        if !(200..<300).contains(response.status) {
            if target.json { Swift.print(response.body, terminator: response.body.hasSuffix("\n") ? "" : "\n") }
            fail(CtlOutput.failure(status: response.status, document: document))
        }
        if target.json {
            Swift.print(response.body, terminator: response.body.hasSuffix("\n") ? "" : "\n")
        } else if let document {
            Swift.print(render(document))
        } else {
            Swift.print(response.body, terminator: response.body.hasSuffix("\n") ? "" : "\n")
        }
    }

    static func fail(_ message: String) -> Never {
        var stderr = StandardError()
        Swift.print("bascule ctl: \(message)", to: &stderr)
        CtlCommand.exit(withError: ExitCode(1))
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every service and backend with its state (a table, or JSON with --json).")
        @OptionGroup var target: Target
        func run() throws { try CtlCommand.perform(target, method: "GET", path: "/status", render: CtlOutput.statusTable) }
    }

    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reload the running balancer's configuration file (as SIGHUP); exit status 1 with every error when it was refused.")
        @OptionGroup var target: Target
        func run() throws {
            try CtlCommand.perform(target, method: "POST", path: "/reload") { _ in "reloaded" }
        }
    }

    struct DrainNode: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drain-node",
            abstract: "Make /readyz answer 503 so keepalived or the BGP speaker moves the address away; connections here are still served.")
        @OptionGroup var target: Target
        func run() throws { try CtlCommand.perform(target, method: "POST", path: "/drain", render: CtlOutput.node) }
    }

    struct ResumeNode: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume-node", abstract: "Undo drain-node: /readyz follows backend health again.")
        @OptionGroup var target: Target
        func run() throws { try CtlCommand.perform(target, method: "POST", path: "/resume", render: CtlOutput.node) }
    }

    /// Drain and disable take a service's last eligible backend only with --force: afterwards
    /// the service would have nowhere to send a new connection.
    static func guardLastEligible(_ target: Target, service: String, backend: String, force: Bool, verb: String) throws {
        guard !force else { return }
        let response: AdminClient.Response
        do {
            response = try target.client().send(method: "GET", path: "/status")
        } catch let error as DemoError {
            fail(error.description)
        }
        guard response.status == 200, let document = try? JSONParser.parse(response.body).get() else {
            fail(CtlOutput.failure(status: response.status, document: try? JSONParser.parse(response.body).get()))
        }
        if CtlOutput.isLastEligible(document, service: service, backend: backend) {
            fail("\(backend) is the last eligible backend of \(service): \(verb) it leaves \(service) no backend for new connections. Add --force to do it anyway.")
        }
    }

    struct Drain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "No new connections to the backend; open ones finish. Refused for a service's last eligible backend without --force.")
        @OptionGroup var target: Target
        @Argument(help: "Service name.") var service: String
        @Argument(help: "Backend name.") var backend: String
        @Flag(help: "Drain even the last eligible backend of the service.") var force = false
        func run() throws {
            try CtlCommand.guardLastEligible(target, service: service, backend: backend, force: force, verb: "draining")
            try CtlCommand.perform(target, method: "POST", path: "/services/\(service)/backends/\(backend)/drain", render: CtlOutput.backend)
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take the backend out of rotation. Refused for a service's last eligible backend without --force.")
        @OptionGroup var target: Target
        @Argument(help: "Service name.") var service: String
        @Argument(help: "Backend name.") var backend: String
        @Flag(help: "Disable even the last eligible backend of the service.") var force = false
        func run() throws {
            try CtlCommand.guardLastEligible(target, service: service, backend: backend, force: force, verb: "disabling")
            try CtlCommand.perform(target, method: "POST", path: "/services/\(service)/backends/\(backend)/disable", render: CtlOutput.backend)
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a drained or disabled backend back in rotation.")
        @OptionGroup var target: Target
        @Argument(help: "Service name.") var service: String
        @Argument(help: "Backend name.") var backend: String
        func run() throws {
            try CtlCommand.perform(target, method: "POST", path: "/services/\(service)/backends/\(backend)/enable", render: CtlOutput.backend)
        }
    }

    struct AddBackend: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-backend",
            abstract: "Add a backend to a running service (validated as in the file; not written to the file).",
            discussion: """
                The backend is the JSON object you would put in the service's `backends` list. \
                It lasts until the next reload or restart: the file wins, and the reload says what it undid.
                """)
        @OptionGroup var target: Target
        @Argument(help: "Service name.") var service: String
        @Argument(help: "The backend's JSON object, e.g. '{\"name\": \"pub4\", \"address\": \"10.0.0.4:8080\"}'; - reads it from standard input.")
        var backend: String
        func run() throws {
            var body = backend
            if backend == "-" {
                body = ""
                while let line = readLine(strippingNewline: false) { body += line }
            }
            try CtlCommand.perform(target, method: "POST", path: "/services/\(service)/backends", body: body,
                                   render: CtlOutput.added)
        }
    }

    struct RemoveBackend: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-backend",
            abstract: "Drain a backend, then remove it once its connections end or the service's drainTimeoutMs passes.")
        @OptionGroup var target: Target
        @Argument(help: "Service name.") var service: String
        @Argument(help: "Backend name.") var backend: String
        func run() throws {
            try CtlCommand.perform(target, method: "DELETE", path: "/services/\(service)/backends/\(backend)",
                                   render: CtlOutput.removing)
        }
    }

    struct Weight: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set the backend's weight (1...1000).")
        @OptionGroup var target: Target
        @Argument(help: "Service name.") var service: String
        @Argument(help: "Backend name.") var backend: String
        @Argument(help: "New weight.") var weight: Int
        func validate() throws {
            guard (1...1000).contains(weight) else { throw ValidationError("weight must be 1...1000, got \(weight)") }
        }
        func run() throws {
            try CtlCommand.perform(target, method: "PUT", path: "/services/\(service)/backends/\(backend)/weight",
                                   body: "\(weight)", render: CtlOutput.backend)
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(self.drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
