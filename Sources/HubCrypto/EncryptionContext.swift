import HubCore

/// Where a ciphertext lives: bound into its associated data, so a ciphertext copied to
/// another tenant, table, column or row fails to open.
public struct EncryptionContext: Sendable, Hashable {
    public let tenant: TenantID
    public let table: String
    /// The column, or column plus field path (`records.sensitive`).
    public let column: String
    /// The row's identity in a stable text form (a UUID, or the record key).
    public let row: String

    public init(tenant: TenantID, table: String, column: String, row: String) {
        self.tenant = tenant
        self.table = table
        self.column = column
        self.row = row
    }

    /// The subkey name: one encryption key per table and column.
    var field: String { "\(table).\(column)" }

    func associatedData(header: ArraySlice<UInt8>) -> [UInt8] {
        Self.associatedData(prefix: Self.prefix(tenant: tenant, table: table, column: column), row: row, header: header)
    }

    /// Everything but the row, which is the same for every row of a column: computed once per batch.
    static func prefix(tenant: TenantID, table: String, column: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for part in ["tributary.v1", tenant.description, table, column] { appendLengthPrefixed(part, to: &bytes) }
        return bytes
    }

    /// Length-prefixed parts, so that no two contexts share an encoding ("ab"+"c" vs "a"+"bc"),
    /// then the envelope header.
    static func associatedData(prefix: [UInt8], row: String, header: ArraySlice<UInt8>) -> [UInt8] {
        var bytes = prefix
        bytes.reserveCapacity(prefix.count + row.utf8.count + 4 + header.count)
        appendLengthPrefixed(row, to: &bytes)
        bytes += header
        return bytes
    }

    private static func appendLengthPrefixed(_ part: String, to bytes: inout [UInt8]) {
        let count = UInt32(part.utf8.count)
        bytes += [UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
        bytes += part.utf8
    }
}
