import ArgumentParser
import Logging

enum LogSetup {
    static func bootstrap(level: Logger.Level, format: LogFormat) {
        let journal = ProcessLogHandler.standardErrorIsTheJournal()
        LoggingSystem.bootstrap { label in
            ProcessLogHandler(label: label, format: format, journalPrefix: journal, logLevel: level)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
