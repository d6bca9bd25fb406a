import Foundation
import PackagePlugin

/// Embeds the package's `migrations/*.sql` into the module that uses this plugin, so a
/// deployed `tributary` binary can migrate a database without the source tree beside it.
@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let directory = context.package.directoryURL.appending(path: "migrations")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrationFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(names.count) migrations",
                executable: try context.tool(named: "MigrationEmbedder").url,
                arguments: [directory.path, output.path],
                inputFiles: names.map { directory.appending(path: $0) },
                outputFiles: [output]
            )
        ]
    }
}
