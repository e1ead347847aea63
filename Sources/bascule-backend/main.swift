import BasculeBackendService

BackendCommand.main()
