import ArgumentParser
import Foundation
import HubAirbyteProcess
import HubApp
import HubConnectors
import HubCore
import HubCrypto
import HubStore
import HubSync

struct ConnectorsAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Register a connector folder (manifest.yaml + hub.yaml, or a process connector's hub.yaml) as a new version.",
        discussion: """
            The folder's name is the connector's name. Registering unchanged content again is a
            no-op that prints the existing version. No rebuild or redeploy is needed: workers
            load new versions from the database.

            Example:
              tributary connectors add connectors/gocardless
            """
    )

    @Argument(help: "The connector folder.") var path: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let loaded = try ConnectorDefinition.load(folder: path)
        let configuration = try CommandEnvironment.configuration()
        let (runtimes, egress) = (configuration.runtimesDirectory, configuration.egress)
        let (definition, version, created) = try await CommandEnvironment.withStore { store in
            var definition = loaded
            if let runtime = definition.runtime {
                // The source's spec says which config fields are secrets: it is asked once, here.
                let source = try await ProcessConnectorRead(runtime: runtime, egress: egress).source(runtimes: runtimes, logger: store.logger)
                definition = try definition.withSpecification(try await source.spec())
            }
            try await ModelCatalog(client: store.client, logger: store.logger).check(definition)
            let (version, created) = try await store.connectors.register(name: definition.name, manifest: definition.manifestText,
                                                                         sidecar: definition.sidecarText)
            return (definition, version, created)
        }
        if json {
            struct Output: Encodable { let name: String; let version: Int; let created: Bool; let streams: [String] }
            print(try CLIOutput.json(Output(name: definition.name, version: version, created: created, streams: definition.streamNames)))
        } else {
            print(created ? "registered \(definition.name) v\(version) (\(definition.streamNames.count) streams)"
                          : "\(definition.name) v\(version) already has this content; nothing changed")
        }
    }
}

struct ConnectorsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List registered connectors.", discussion: "Example:\n  tributary connectors list"
    )

    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let connectors = try await CommandEnvironment.withStore { store in try await store.connectors.list() }
        if json {
            struct Row: Encodable { let name: String; let latestVersion: Int; let versions: Int; let updatedAt: Date }
            print(try CLIOutput.json(connectors.map { Row(name: $0.name, latestVersion: $0.latestVersion, versions: $0.versions, updatedAt: $0.updatedAt) }))
            return
        }
        guard !connectors.isEmpty else {
            print("no connectors yet: register one with `tributary connectors add connectors/NAME`")
            return
        }
        print(CLIOutput.table(header: ["NAME", "LATEST", "VERSIONS"],
                              rows: connectors.map { [$0.name, "v\($0.latestVersion)", "\($0.versions)"] }))
    }
}

struct ConnectorsShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a registered connector's streams and data policy.",
        discussion: "Example:\n  tributary connectors show gocardless --version 2"
    )

    @Argument(help: "The connector name.") var name: String
    @Option(help: "A version (default: the latest).") var version: Int?

    func run() async throws {
        let stored = try await CommandEnvironment.withStore { store in try await store.connectors.definition(name: name, version: version) }
        let definition = try ConnectorDefinition(name: stored.name, manifest: stored.manifest, sidecar: stored.sidecar)
        print("\(stored.name) v\(stored.version)  (checksum \(stored.checksum.prefix(12)))")
        if let runtime = definition.runtime {
            print("runtime: \(runtime.requirement), a process (\(runtime.entrypoint); timeout \(runtime.timeoutSeconds) s, "
                  + "memory \(runtime.memoryMegabytes) MB)")
        } else {
            print("runtime: the engine (manifest.yaml)")
        }
        if let schedule = definition.sidecar.schedule { print("schedule: every \(Int(schedule.totalSeconds)) s") }
        if let limit = definition.sidecar.accountConcurrency { print("per-account concurrency: \(limit)") }
        let credentials = definition.credentialFields.sorted()
        if !credentials.isEmpty { print("credentials (encrypted): \(credentials.joined(separator: ", "))") }
        for stream in definition.streamNames {
            for (model, mapping) in (definition.sidecar.streams[stream]?.unified ?? [:]).sorted(by: { $0.key < $1.key }) {
                print("\(stream) → \(model): \(mapping.fieldNames.joined(separator: ", "))")
            }
        }
        print(CLIOutput.table(
            header: ["STREAM", "SYNC", "PRIMARY KEY", "SENSITIVE", "BLIND INDEX"],
            rows: definition.streamNames.map { stream in
                let policy = definition.sidecar.streams[stream]
                return [
                    stream, definition.isIncremental(stream) ? "incremental" : "full refresh",
                    definition.primaryKey(stream).map { $0.joined(separator: ".") }.joined(separator: ","),
                    (policy?.sensitive ?? []).joined(separator: ","),
                    (policy?.blindIndexes ?? []).map { "\($0.name):\($0.normalizer.rawValue)" }.joined(separator: ","),
                ]
            }
        ))
    }
}
