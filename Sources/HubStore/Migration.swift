import Crypto
import HubCore

/// One numbered SQL file from `migrations/`, as embedded into the binary at build time.
public struct Migration: Sendable, Equatable {
    /// The frozen file name (`0001_tenants.sql`); it is the migration's identity forever.
    public let name: String
    public let sql: String
    /// Hex SHA-256 of the file's text: an applied migration whose file changed is refused.
    public let checksum: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
        self.checksum = hex(Array(SHA256.hash(data: Array(sql.utf8))))
    }

    /// The statements to run, in order.
    var statements: [String] { SQLScript.statements(in: sql) }

    /// The migrations compiled into this binary, in the order they apply.
    public static var embedded: [Migration] {
        EmbeddedMigrationFiles.all.map { Migration(name: $0.name, sql: $0.sql) }
    }

    /// The vault database's migrations (`migrations-vault/`), applied to
    /// `TRIBUTARY_VAULT_DATABASE_URL` with a history of their own (docs/vault.md).
    public static var vault: [Migration] {
        EmbeddedVaultMigrationFiles.all.map { Migration(name: $0.name, sql: $0.sql) }
    }

    /// Names must be `NNNN_words.sql`, unique in number, in ascending order with no gaps.
    public static func validate(_ migrations: [Migration]) throws {
        var expected = 1
        for migration in migrations {
            guard let number = Self.number(of: migration.name) else {
                throw HubError(.migrationFailed, "migration file name \(migration.name) is not of the form NNNN_description.sql (lower-case letters, digits and underscores)")
            }
            guard number == expected else {
                throw HubError(.migrationFailed, "migration \(migration.name) is out of sequence: expected number \(zeroPadded(expected))")
            }
            expected += 1
        }
    }

    static func number(of name: String) -> Int? {
        let parts = name.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, parts[0].count == 4, let number = Int(parts[0]), name.hasSuffix(".sql") else { return nil }
        let words = parts[1].dropLast(4)
        let allowed = words.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }
        return allowed && !words.isEmpty ? number : nil
    }
}


/// `7` → `0007`, the width of a migration number.
func zeroPadded(_ value: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
