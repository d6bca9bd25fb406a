import Foundation
import PackagePlugin

/// Embeds the package's `migrations/*.sql` and `migrations-vault/*.sql` into the module that
/// uses this plugin, so a deployed `tributary` binary can migrate both databases without the
/// source tree beside it.
@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        try [
            command(context: context, folder: "migrations", enumName: "EmbeddedMigrationFiles"),
            command(context: context, folder: "migrations-vault", enumName: "EmbeddedVaultMigrationFiles"),
        ]
    }

    private func command(context: PluginContext, folder: String, enumName: String) throws -> Command {
        let directory = context.package.directoryURL.appending(path: folder)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        let output = context.pluginWorkDirectoryURL.appending(path: "\(enumName).swift")
        return .buildCommand(
            displayName: "Embedding \(names.count) files of \(folder)",
            executable: try context.tool(named: "MigrationEmbedder").url,
            arguments: [directory.path, output.path, enumName],
            inputFiles: names.map { directory.appending(path: $0) },
            outputFiles: [output]
        )
    }
}
