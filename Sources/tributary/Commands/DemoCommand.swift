import ArgumentParser
import Foundation
import HubApp
import HubDemo

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "See Tributary work end to end: two sample APIs synced, webhooks, the records API.",
        discussion: """
            Starts an embedded PostgreSQL in the data folder (a master key is created there on first
            run), every role, and two sample third-party APIs on loopback: a CRM (contacts,
            companies; cursor pagination, incremental, 429s, signed webhooks) and a billing system
            (customers, invoices). Registers their connectors from connectors/, creates a demo
            tenant with an API key and one connection to each, syncs them with live progress, has
            the CRM send signed webhooks, and prints a summary with curl commands. Then it serves
            until Ctrl-C, which stops everything, the database included.

            Run it again to see an incremental sync fetch only what changed since.

            Examples:
              tributary demo
              tributary demo --port 9090 --data-dir /tmp/tributary-demo
              tributary demo --json --exit      # one JSON summary line, then stop
              tributary demo --reset            # start from scratch
            """
    )

    @Option(help: "Data folder for the demo's database, master key and state.")
    var dataDir: String = ".tributary-demo"

    @Option(help: "Port for the API on 127.0.0.1 (0 picks a free one).")
    var port: Int = 8080

    @Option(help: "Folder holding the demo-crm and demo-billing connectors (default: ./connectors in a checkout, else the built-in ones).")
    var connectors: String?

    @Flag(help: "When ready, print the summary as one JSON line on stdout (progress goes to stderr).")
    var json = false

    @Flag(name: .customLong("exit"), help: "Stop everything right after the summary instead of serving.")
    var exitAfterSummary = false

    @Flag(help: "Delete the data folder first and start from scratch.")
    var reset = false

    func validate() throws {
        if !(0...65535).contains(port) { throw ValidationError("--port must be from 0 to 65535") }
        if dataDir.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--data-dir must not be empty") }
    }

    func run() async throws {
        let configuration = try CommandEnvironment.configuration()
        let logger = CommandEnvironment.bootstrapLogging(configuration, server: false)
        try await HubRuntime.demo(
            DemoConfiguration(dataDirectory: dataDir, port: port, connectorsDirectory: connectors, json: json,
                              exitAfterSummary: exitAfterSummary, reset: reset),
            configuration: configuration, logger: logger)
    }
}
