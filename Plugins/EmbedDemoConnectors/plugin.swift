import Foundation
import PackagePlugin

/// Embeds the demo's sample connectors (`connectors/demo-crm`, `connectors/demo-billing`) into
/// the module that uses this plugin, so `tributary demo` runs from any folder, with the binary
/// alone.
@main
struct EmbedDemoConnectors: BuildToolPlugin {
    static let names = ["demo-billing", "demo-crm"]

    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let directory = context.package.directoryURL.appending(path: "connectors")
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedDemoConnectorFiles.swift")
        let inputs = Self.names.flatMap { name in
            ["hub.yaml", "manifest.yaml"].map { directory.appending(path: name).appending(path: $0) }
        }
        return [
            .buildCommand(
                displayName: "Embedding the demo's \(Self.names.count) connectors",
                executable: try context.tool(named: "MigrationEmbedder").url,
                arguments: ["--connectors", directory.path, output.path] + Self.names,
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
