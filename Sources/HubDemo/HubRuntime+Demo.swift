import Foundation
import HubApp
import HubConnectors
import HubCore
import HubStore
import Logging
import ServiceLifecycle

/// `tributary demo`: the whole product on this machine, in one process.
public struct DemoConfiguration: Sendable {
    public var dataDirectory: String
    public var port: Int
    /// Where demo-crm and demo-billing are read from; nil takes `connectors/` when the current
    /// folder is a checkout, else the copies built into the binary.
    public var connectorsDirectory: String?
    public var json: Bool
    public var exitAfterSummary: Bool
    public var reset: Bool

    public init(dataDirectory: String, port: Int, connectorsDirectory: String?, json: Bool, exitAfterSummary: Bool, reset: Bool) {
        self.dataDirectory = dataDirectory
        self.port = port
        self.connectorsDirectory = connectorsDirectory
        self.json = json
        self.exitAfterSummary = exitAfterSummary
        self.reset = reset
    }
}

extension HubRuntime {
    /// Starts the embedded PostgreSQL in the demo's data folder, migrates, and runs every role
    /// with the two sample APIs and the demo driver beside them, until Ctrl-C (or the summary,
    /// with `exitAfterSummary`). The database stops last, also on failure.
    public static func demo(_ demo: DemoConfiguration, configuration base: HubConfiguration, logger: Logger) async throws {
        let started = ContinuousClock.now
        let console = DemoConsole(json: demo.json)
        let fileManager = FileManager.default
        let dataDirectory = URL(fileURLWithPath: demo.dataDirectory).standardizedFileURL.path
        if demo.reset, fileManager.fileExists(atPath: dataDirectory) {
            console.step("Removing \(dataDirectory) (--reset)")
            try fileManager.removeItem(atPath: dataDirectory)
        }
        try fileManager.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let connectorsDirectory = try demoConnectors(demo.connectorsDirectory, dataDirectory: dataDirectory)
        var configuration = base
        configuration.databaseURL = nil
        configuration.dataDirectory = dataDirectory
        configuration.httpPort = demo.port
        configuration.masterKey = nil
        configuration.masterKeyFile = nil
        // The sample APIs serve on loopback, which the egress policy refuses by default.
        configuration.egressAllow += [IPRange("127.0.0.1/32")].compactMap { $0 }
        if !fileManager.fileExists(atPath: MasterKey.defaultFile(configuration)) {
            console.step("Creating a master key in \(MasterKey.defaultFile(configuration))")
        }
        _ = try MasterKey.load(configuration, createIfMissing: true)
        let run = (try DemoState.load(dataDirectory)?.runs ?? 0) + 1

        console.step("Starting PostgreSQL in \(dataDirectory)/")
        try await withDatabase(configuration, logger: logger) { databases in
            let report = try await migrate(databases, dryRun: false, splitVault: true, kek: try MasterKey.load(configuration), logger: logger) { _ in }
            console.line("    migrations: \(report.applied.count) applied, schema current")
            let log = SampleAPIRequestLog()
            let data = DemoData(rounds: run - 1)
            // Fixed keys: a second run's stored credentials must still open the same sample APIs.
            let crm = SampleCRM(apiKey: "sk_demo_crm_7Q2mB9xK", data: data, log: log)
            let billing = SampleBilling(apiKey: "bk_demo_billing_4fT8wZ", data: data, log: log)
            let ports = PortRendezvous()
            var quiet = logger
            quiet.logLevel = .critical
            console.step("Starting the api, worker and scheduler roles and two sample APIs")
            try await serve(roles: Role.available, configuration: configuration, databases: databases, logger: logger,
                            onAPIListening: { port in await ports.publish("api", port) }) { store in
                let driver = DemoDriver(
                    options: .init(dataDirectory: dataDirectory, connectorsDirectory: connectorsDirectory, json: demo.json,
                                   exitAfterSummary: demo.exitAfterSummary, apiHost: configuration.httpHost, databases: databases,
                                   keyFileShown: DemoState.keyFile(dataDirectory)),
                    store: store, ports: ports, crm: crm, billing: billing, log: log, run: run, started: started, console: console)
                // The sample APIs outlive the worker that reads them; the driver stops first.
                return Companions(
                    dependencies: [
                        .init(service: crm.application(logger: quiet) { port in await ports.publish("crm", port) }, serviceName: "sample-crm"),
                        .init(service: billing.application(logger: quiet) { port in await ports.publish("billing", port) },
                              serviceName: "sample-billing"),
                    ],
                    dependents: [
                        .init(service: driver, successTerminationBehavior: .gracefullyShutdownGroup,
                              failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "demo"),
                    ])
            }
        }
        console.line("Stopped; PostgreSQL is shut down. Run again to sync only what changed.")
    }

    /// The folder the demo registers its connectors from: the one given (which must hold them),
    /// else `connectors/` of the checkout it runs in, else the built-in copies written out to
    /// `connectors/` in the data folder, so that `tributary demo` works from any folder.
    static func demoConnectors(_ given: String?, dataDirectory: String) throws -> String {
        let fileManager = FileManager.default
        func holdsDemo(_ folder: String) -> Bool { fileManager.fileExists(atPath: folder + "/demo-crm/manifest.yaml") }
        if let given {
            guard holdsDemo(given) else {
                throw HubError(.notFound, "no sample connectors in \(given)/ (demo-crm/ and demo-billing/, each with manifest.yaml and hub.yaml)")
            }
            return given
        }
        if holdsDemo("connectors") { return "connectors" }
        let builtIn = dataDirectory + "/connectors"
        for (path, text) in EmbeddedDemoConnectorFiles.all {
            let file = builtIn + "/" + path
            try fileManager.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        }
        return builtIn
    }
}
