import Foundation

/// Identifies a tenant, the isolation boundary every row and every query carries.
public struct TenantID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let rawValue: UUID

    public init(_ rawValue: UUID = UUID()) {
        self.rawValue = rawValue
    }

    public init?(_ string: String) {
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.rawValue = uuid
    }

    /// Lower-case canonical form, the one stored and bound into associated data.
    public var description: String { rawValue.uuidString.lowercased() }

    public static func < (lhs: TenantID, rhs: TenantID) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let id = TenantID(string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a tenant id (UUID): \(string)")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
