import EarshotCLI

await EarshotCommand.runFromCommandLine()
