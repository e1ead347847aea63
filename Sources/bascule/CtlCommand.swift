import ArgumentParser
import BasculeConfig

struct CtlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Act on a running balancer through its admin endpoint.",
        discussion: """
            Reads the admin address and token from the configuration file (or --admin/--token). \
            Examples:
              bascule ctl status
              bascule ctl drain publishing pub2
              bascule ctl enable publishing pub2
              bascule ctl weight publishing pub3 4
              bascule ctl reload
              bascule ctl drain-node      (maintenance: /readyz turns 503, traffic still served)
              bascule ctl resume-node
            """,
        subcommands: [Status.self, Drain.self, Disable.self, Enable.self, Weight.self, Reload.self,
                      DrainNode.self, ResumeNode.self]
    )

    struct Target: ParsableArguments {
        @Option(name: .shortAndLong, help: "Configuration file to read admin.listen and admin.token from.")
        var config: String = "config.json"

        @Option(help: "Admin address (HOST:PORT); overrides the configuration file.")
        var admin: String?

        @Option(help: "Bearer token; overrides the configuration file.")
        var token: String?

        func client() throws -> AdminClient {
            if let admin {
                guard let endpoint = Endpoint(parsing: admin) else {
                    throw ValidationError("--admin must be an IP literal and a port (127.0.0.1:9000, [::1]:9000), got \"\(admin)\"")
                }
                // With an explicit address the file is only a source for the token, if readable.
                let fileToken = (try? ConfigurationFile.load(config).get())?.admin.token ?? ""
                return AdminClient(endpoint: endpoint, token: token ?? fileToken)
            }
            let configuration = try ConfigurationFile.loadOrExit(config)
            return AdminClient(endpoint: configuration.admin.listen, token: token ?? configuration.admin.token)
        }
    }

    static func perform(_ target: Target, method: String, path: String, body: String = "") throws {
        let response = try target.client().send(method: method, path: path, body: body)
        print(response.body, terminator: response.body.hasSuffix("\n") ? "" : "\n")
        if !(200..<300).contains(response.status) {
            var stderr = StandardError()
            print("bascule ctl: the admin endpoint answered \(response.status)", to: &stderr)
            throw ExitCode(1)
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every service and backend with its state (JSON).")
        @OptionGroup var target: Target
        func run() throws { try CtlCommand.perform(target, method: "GET", path: "/status") }
    }

    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reload the running balancer's configuration file (as SIGHUP), printing any error.")
        @OptionGroup var target: Target
        func run() throws { try CtlCommand.perform(target, method: "POST", path: "/reload") }
    }

    struct DrainNode: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drain-node",
            abstract: "Make /readyz answer 503 so keepalived or the BGP speaker moves the address away; connections here are still served.")
        @OptionGroup var target: Target
        func run() throws { try CtlCommand.perform(target, method: "POST", path: "/drain") }
    }

    struct ResumeNode: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume-node", abstract: "Undo drain-node: /readyz follows backend health again.")
        @OptionGroup var target: Target
        func run() throws { try CtlCommand.perform(target, method: "POST", path: "/resume") }
    }

    struct Drain: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "No new connections to the backend; open ones finish.")
        @OptionGroup var target: Target
        @Argument(help: "Service name.") var service: String
        @Argument(help: "Backend name.") var backend: String
        func run() throws { try CtlCommand.perform(target, method: "POST", path: "/services/\(service)/backends/\(backend)/drain") }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take the backend out of rotation.")
        @OptionGroup var target: Target
        @Argument(help: "Service name.") var service: String
        @Argument(help: "Backend name.") var backend: String
        func run() throws { try CtlCommand.perform(target, method: "POST", path: "/services/\(service)/backends/\(backend)/disable") }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a drained or disabled backend back in rotation.")
        @OptionGroup var target: Target
        @Argument(help: "Service name.") var service: String
        @Argument(help: "Backend name.") var backend: String
        func run() throws { try CtlCommand.perform(target, method: "POST", path: "/services/\(service)/backends/\(backend)/enable") }
    }

    struct Weight: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set the backend's weight (1...1000).")
        @OptionGroup var target: Target
        @Argument(help: "Service name.") var service: String
        @Argument(help: "Backend name.") var backend: String
        @Argument(help: "New weight.") var weight: Int
        func run() throws {
            guard (1...1000).contains(weight) else { throw ValidationError("weight must be 1...1000, got \(weight)") }
            try CtlCommand.perform(target, method: "PUT", path: "/services/\(service)/backends/\(backend)/weight", body: "\(weight)")
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(self.drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
