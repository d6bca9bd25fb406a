@testable import HubStore
import HubCore
import Testing

@Suite("The embedded migrations")
struct MigrationTests {
    @Test func embeddedMigrationsAreNumberedInOrderWithoutGaps() throws {
        let migrations = Migration.embedded
        #expect(migrations.count >= 6)
        try Migration.validate(migrations)
        #expect(Set(migrations.map(\.name)).count == migrations.count)
        #expect(migrations.first?.name == "0001_tenants.sql")
        for migration in migrations {
            #expect(!migration.statements.isEmpty, "\(migration.name) has no statements")
        }
    }

    @Test func checksumFollowsTheText() {
        let a = Migration(name: "0001_a.sql", sql: "SELECT 1;")
        #expect(a.checksum.count == 64)
        #expect(a.checksum == Migration(name: "0001_a.sql", sql: "SELECT 1;").checksum)
        #expect(a.checksum != Migration(name: "0001_a.sql", sql: "SELECT 2;").checksum)
    }

    @Test(arguments: ["1_x.sql", "0001-x.sql", "0001_X.sql", "0001_.sql", "0001_x.txt", "00a1_x.sql"])
    func badNamesAreRefused(_ name: String) {
        #expect(throws: HubError.self) { try Migration.validate([Migration(name: name, sql: "SELECT 1")]) }
    }

    @Test func gapsAndDuplicatesAreRefused() {
        let one = Migration(name: "0001_a.sql", sql: "SELECT 1")
        let three = Migration(name: "0003_c.sql", sql: "SELECT 1")
        let error = #expect(throws: HubError.self) { try Migration.validate([one, three]) }
        #expect(error?.message.contains("0003_c.sql is out of sequence: expected number 0002") == true)
        #expect(throws: HubError.self) { try Migration.validate([one, Migration(name: "0001_b.sql", sql: "SELECT 1")]) }
    }
}
