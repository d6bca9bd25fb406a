import ArgumentParser
import Foundation
import HubApp
import HubConnectors
import HubCore

struct ConnectorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connectors",
        abstract: "Check and run connectors (Airbyte declarative manifests, and Airbyte sources run as processes).",
        subcommands: [
            ConnectorsAddCommand.self, ConnectorsListCommand.self, ConnectorsShowCommand.self, ConnectorsValidateCommand.self,
            ConnectorsReadCommand.self, ConnectorsResolveCommand.self,
        ]
    )
}

struct ConnectorsValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Load a connector's manifest and report every problem in it.",
        discussion: "Example:\n  tributary connectors validate connectors/gocardless"
    )

    @Argument(help: "The connector folder (holding manifest.yaml, or a hub.yaml with a runtime) or the manifest file.")
    var path: String

    func run() async throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            let definition = try ConnectorDefinition.load(folder: path)
            print("ok: \(definition.name): \(definition.streamNames.count) stream(s): \(definition.streamNames.joined(separator: ", "))")
        } else {
            let source = try ConnectorRead.loadSource(at: path)
            print("ok: \(source.streamNames.count) stream(s): \(source.streamNames.joined(separator: ", "))")
        }
    }
}

struct ConnectorsReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Run a connector without a database and print Airbyte protocol messages as JSON lines.",
        discussion: """
            The output has the shape of the Airbyte CDK's `source-declarative-manifest read`:
            RECORD, STATE, TRACE (stream status, errors). TRIBUTARY_FROZEN_NOW (RFC 3339) freezes
            the clock that now_utc() and open-ended date ranges read.

            Example:
              tributary connectors read connectors/gocardless --config secrets/config.json \\
                  --catalog catalog.json --state state.json --streams payments,refunds

            A folder whose hub.yaml has a runtime (runtime.pypi: PACKAGE==VERSION) runs that
            Airbyte source as a process: installed on first use into
            TRIBUTARY_CONNECTOR_RUNTIMES_DIR, its streams discovered unless --catalog is given.
            """
    )

    @Argument(help: "The connector folder (holding manifest.yaml, or a hub.yaml with a runtime) or the manifest file.")
    var path: String

    @Option(help: "The connector configuration (JSON). It holds credentials: keep the file private.")
    var config: String

    @Option(help: "An Airbyte configured catalog (JSON); without one, every stream is read incrementally.")
    var catalog: String?

    @Option(help: "An Airbyte state file (JSON list of STREAM states) to resume from.")
    var state: String?

    @Option(help: "Comma-separated stream names to read (default: all).")
    var streams: String?

    func run() async throws {
        let selected = streams.map { $0.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) } }
        if let runtime = try ProcessConnectorRead.runtime(at: path) {
            let configuration = try CommandEnvironment.configuration()
            let logger = CommandEnvironment.bootstrapLogging(configuration, server: false)
            let failures = try await ProcessConnectorRead(runtime: runtime, egress: configuration.egress).run(
                config: try ConnectorRead.loadJSON(at: config, what: "config"),
                catalog: try catalog.map { try ConnectorRead.loadJSON(at: $0, what: "catalog") },
                state: try state.map { try ConnectorRead.loadJSON(at: $0, what: "state") },
                streams: selected, runtimes: configuration.runtimesDirectory, logger: logger
            )
            if failures > 0 { throw HubError(.internalError, "\(failures) stream(s) failed; the lines above say why") }
            return
        }
        let source = try ConnectorRead.loadSource(at: path)
        let read = try ConnectorRead(
            source: source,
            config: try ConnectorRead.loadJSON(at: config, what: "config"),
            catalog: try catalog.map { try ConnectorRead.loadJSON(at: $0, what: "catalog") },
            state: try state.map { try ConnectorRead.loadJSON(at: $0, what: "state") },
            streams: selected
        )
        var environment = EngineEnvironment()
        environment.followRedirects = try ConnectorRead.followsRedirects(at: path)
        let egress: EgressPolicy
        do {
            egress = try EgressPolicy.fromEnvironment(ProcessInfo.processInfo.environment)
        } catch let error as HubError {
            throw ValidationError(error.message)
        }
        if let frozen = ProcessInfo.processInfo.environment["TRIBUTARY_FROZEN_NOW"], !frozen.isEmpty {
            environment.now = try EngineEnvironment.frozenClock(frozen)
        }
        let output = FileHandle.standardOutput
        let failures = try await read.run(transport: AsyncHTTPTransport(egress: egress), environment: environment) { line in
            output.write(Data((line + "\n").utf8))
        }
        if failures > 0 {
            throw HubError(.internalError, "\(failures) stream(s) failed; the TRACE ERROR lines above say why")
        }
    }
}

struct ConnectorsResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Print a manifest after $ref resolution and $parameters propagation, as JSON.",
        discussion: "What the engine actually runs; useful when a reference or parameter does not land where expected.\nExample:\n  tributary connectors resolve connectors/gocardless"
    )

    @Argument(help: "The connector folder (holding manifest.yaml, or a hub.yaml with a runtime) or the manifest file.")
    var path: String

    func run() async throws {
        var isDirectory: ObjCBool = false
        let file = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? (path as NSString).appendingPathComponent("manifest.yaml") : path
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
        do {
            print(try DeclarativeSource.resolve(yaml: String(decoding: data, as: UTF8.self), source: file).jsonText)
        } catch let error as ManifestError {
            throw HubError(.invalidInput, "\(file): \(error)")
        }
    }
}
