import Foundation
import HubCrypto
import HubDatabase
import Testing
import TributaryTestSupport

@Suite("Model commands as processes")
struct ModelsCommandTests {
    static let modelsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models").path

    @Test func addListShowTheBundledModelsAndRefuseABadOneWhole() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let keyFile = root + "/master.key"
        _ = try MasterKeyFile.write(keyFile)
        let environment = ["TRIBUTARY_DATABASE_URL": url.revealedString, "TRIBUTARY_MASTER_KEY_FILE": keyFile]

        let added = try await TributaryProcess.run(["models", "add", Self.modelsFolder], environment: environment)
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("registered model company v1") && added.stdout.contains("registered model person v1"), "\(added.stdout)")
        let again = try await TributaryProcess.run(["models", "add", Self.modelsFolder + "/person.yaml"], environment: environment)
        #expect(again.stdout.contains("already has this content"), "\(again.stdout)")

        let listed = try await TributaryProcess.run(["models", "list", "--json"], environment: environment)
        #expect(listed.status == 0)
        #expect(listed.stdout.contains(#""name":"company""#) && listed.stdout.contains(#""name":"person""#), "\(listed.stdout)")

        let shown = try await TributaryProcess.run(["models", "show", "person"], environment: environment)
        #expect(shown.status == 0)
        #expect(shown.stdout.contains("phone_digits") && shown.stdout.contains("priority: crm"), "\(shown.stdout)")

        // A folder with one bad file registers nothing, and says which file and field.
        let folder = root + "/models"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "name: good\nschema: {type: object, properties: {a: {type: string}}}\n".write(toFile: folder + "/a.yaml", atomically: true, encoding: .utf8)
        try "name: bad\nschema: {type: object, properties: {a: {type: string}}}\nsensitive: [b]\n".write(toFile: folder + "/b.yaml", atomically: true, encoding: .utf8)
        let refused = try await TributaryProcess.run(["models", "add", folder], environment: environment)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("b.yaml") && refused.stderr.contains("sensitive[0]"), "\(refused.stderr)")
        let after = try await TributaryProcess.run(["models", "list", "--json"], environment: environment)
        #expect(!after.stdout.contains(#""name":"good""#), "a folder with a bad file registered part of itself")
    }
}
