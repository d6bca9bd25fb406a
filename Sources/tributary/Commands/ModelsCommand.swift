import ArgumentParser
import Foundation
import HubApp
import HubConnectors
import HubCore
import HubStore
import HubSync

struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Register, list and show unified models (a person, a company) that connectors' records map into.",
        subcommands: [ModelsAddCommand.self, ModelsListCommand.self, ModelsShowCommand.self]
    )
}

struct ModelsAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Register model definitions (a models/NAME.yaml file, or a folder of them) as new versions.",
        discussion: """
            Each file is checked before anything is stored: its schema, that sensitive, identity
            and survivorship fields are properties of it, and the identity normalizations.
            Registering unchanged content again is a no-op that prints the existing version.

            Examples:
              tributary models add models/person.yaml
              tributary models add models
            """
    )

    @Argument(help: "A model file, or a folder of *.yaml model files.") var path: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let files = try Self.files(at: path)
        // Every file is checked before any is stored: a folder registers whole or not at all.
        let models = try files.map { file -> UnifiedModel in
            guard let data = FileManager.default.contents(atPath: file) else { throw HubError(.notFound, "cannot read \(file)") }
            do {
                return try UnifiedModel(yaml: String(decoding: data, as: UTF8.self), source: file)
            } catch let error as ManifestError {
                throw HubError(.invalidModel, "\(file): \(error)")
            } catch let error as ManifestProblems {
                throw HubError(.invalidModel, "\(file): \(error)")
            }
        }
        let results = try await CommandEnvironment.withStore { store in
            var results: [(name: String, version: Int, created: Bool, rederiving: Int)] = []
            let rederivations = RederivationService(client: store.client, catalog: ConnectorCatalog(store: store.connectors), logger: store.logger)
            for model in models {
                let (version, created) = try await store.models.register(name: model.name, definition: model.text)
                // Connections mapping into a changed model derive their unified data again.
                results.append((model.name, version, created, created ? try await rederivations.modelChanged(model.name) : 0))
            }
            return results
        }
        if json {
            struct Row: Encodable { let name: String; let version: Int; let created: Bool; let rederivingConnections: Int }
            print(try CLIOutput.json(results.map { Row(name: $0.name, version: $0.version, created: $0.created, rederivingConnections: $0.rederiving) }))
            return
        }
        for result in results {
            print(result.created ? "registered model \(result.name) v\(result.version)" : "model \(result.name) v\(result.version) already has this content; nothing changed")
            if result.rederiving > 0 {
                print("  \(result.rederiving) connection\(result.rederiving == 1 ? "" : "s") will derive their \(result.name) data again (see `tributary jobs list`)")
            }
        }
    }

    static func files(at path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw HubError(.notFound, "no model file or folder at \(path)") }
        guard isDirectory.boolValue else { return [path] }
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        guard !names.isEmpty else { throw HubError(.notFound, "\(path) holds no .yaml model files") }
        return names.map { (path as NSString).appendingPathComponent($0) }
    }
}

struct ModelsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List registered models.", discussion: "Example:\n  tributary models list")

    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let models = try await CommandEnvironment.withStore { store in try await store.models.list() }
        if json {
            struct Row: Encodable { let name: String; let latestVersion: Int; let versions: Int; let updatedAt: Date }
            print(try CLIOutput.json(models.map { Row(name: $0.name, latestVersion: $0.latestVersion, versions: $0.versions, updatedAt: $0.updatedAt) }))
            return
        }
        guard !models.isEmpty else {
            print("no models yet: register the bundled ones with `tributary models add models`")
            return
        }
        print(CLIOutput.table(header: ["NAME", "LATEST", "VERSIONS"], rows: models.map { [$0.name, "v\($0.latestVersion)", "\($0.versions)"] }))
    }
}

struct ModelsShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a model's fields: which are sensitive, its identity keys and survivorship rules.",
        discussion: "Example:\n  tributary models show person --version 1"
    )

    @Argument(help: "The model name.") var name: String
    @Option(help: "A version (default: the latest).") var version: Int?

    func run() async throws {
        let stored = try await CommandEnvironment.withStore { store in
            try await store.models.definition(name: name, version: version)
        }
        let model = try UnifiedModel(yaml: stored.definition, source: "model \(stored.name) v\(stored.version)")
        print("\(stored.name) v\(stored.version)  (checksum \(stored.checksum.prefix(12)))")
        if let description = model.description { print(description) }
        print(CLIOutput.table(
            header: ["FIELD", "SENSITIVE", "IDENTITY", "SURVIVORSHIP"],
            rows: model.fields.map { field in
                let identity = model.identityNormalization(of: field) ?? ""
                let rule = switch model.survivorship(of: field) {
                case .mostRecent: "most recent"
                case .priority(let names): "priority: " + names.joined(separator: ", ")
                }
                return [field, model.sensitive.contains(field) ? "yes" : "", identity, rule]
            }
        ))
    }
}
