import EarshotCLI

await EarshotCommand.main()
