import EarshotDaemon
import Logging

LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
await EarshotdCommand.runFromCommandLine()
