import Foundation
import HubCore

/// What a demo run leaves for the next in its data folder (`demo.json`, mode 0600, as it
/// holds the demo's API key): the tenant, its key, the two connections, and how many runs
/// have happened — run `n` serves the sample data after `n - 1` rounds of changes.
struct DemoState: Codable, Sendable {
    var tenant: UUID
    var apiKey: String
    var crmConnection: UUID
    var billingConnection: UUID
    var runs: Int

    static func file(_ dataDirectory: String) -> String { dataDirectory + "/demo.json" }
    static func keyFile(_ dataDirectory: String) -> String { dataDirectory + "/api-key" }

    static func load(_ dataDirectory: String) throws -> DemoState? {
        let path = file(dataDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(DemoState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw HubError(.invalidInput, "\(path) is unreadable (\(error.localizedDescription)); run the demo with --reset to start over")
        }
    }

    func save(_ dataDirectory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Self.writePrivate(Self.file(dataDirectory), try encoder.encode(self))
        try Self.writePrivate(Self.keyFile(dataDirectory), Data(apiKey.utf8))
    }

    /// Created private, then written: the key is never readable by others, even briefly.
    private static func writePrivate(_ path: String, _ data: Data) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw HubError(.internalError, "cannot create \(path)")
            }
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: data)
    }
}
