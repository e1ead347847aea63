#if canImport(Glibc)
import Glibc
#endif

/// A command run to completion: its exit status and what it printed on stdout.
public struct CommandRun {
    public var status: Int32
    public var stdout: [String]
    /// The last 60 lines of both streams, stderr marked, for failure messages.
    public var output: String
    /// Every line of both streams in arrival order, unmarked ("" when it printed nothing).
    public var text: String

    /// Runs `executable` with `arguments` (in `directory`, if given), waits at most `timeout`
    /// (then kills it and throws).
    public static func run(_ executable: String, _ arguments: [String], directory: String? = nil,
                           timeout: Duration = .seconds(30)) throws -> CommandRun {
        let process = try ManagedProcess(executable: executable, arguments: arguments, directory: directory)
        guard let status = process.waitForExit(timeout: timeout) else {
            process.terminate(grace: .seconds(1))
            throw ManagedProcess.Failure(description: "\(([executable] + arguments).joined(separator: " ")) did not finish within \(timeout); output:\n"
                                         + process.recentOutput())
        }
        let lines = process.lines
        return CommandRun(status: status, stdout: lines.filter { $0.stream == .stdout }.map(\.text),
                          output: process.recentOutput(limit: 60), text: lines.map(\.text).joined(separator: "\n"))
    }

    /// As `run`, but an exit status other than 0 is an error carrying the output.
    public static func succeeding(_ executable: String, _ arguments: [String], directory: String? = nil,
                                  timeout: Duration = .seconds(30)) throws -> CommandRun {
        let result = try run(executable, arguments, directory: directory, timeout: timeout)
        guard result.status == 0 else {
            throw ManagedProcess.Failure(description: "\(([executable] + arguments).joined(separator: " ")) exited with \(result.status); output:\n"
                                         + result.output)
        }
        return result
    }

    /// The absolute path of `name` on PATH, if any.
    public static func which(_ name: String) -> String? {
        guard let path = getenv("PATH") else { return nil }
        let directories = String(cString: path).split(separator: ":")
        return directories.map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }
}
