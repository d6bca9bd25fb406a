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

    /// Length-prefixed parts, so that no two contexts share an encoding ("ab"+"c" vs "a"+"bc").
    func associatedData(header: ArraySlice<UInt8>) -> [UInt8] {
        var bytes = Array(header)
        for part in ["tributary.v1", tenant.description, table, column, row] {
            let utf8 = Array(part.utf8)
            let count = UInt32(utf8.count)
            bytes += [UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
            bytes += utf8
        }
        return bytes
    }
}
