import Foundation
import HubCore

/// Identifies one record in the store: idempotent upserts key on it.
public struct RecordKey: Sendable, Hashable {
    public let connection: UUID
    public let stream: String
    public let externalID: String

    public init(connection: UUID, stream: String, externalID: String) {
        self.connection = connection
        self.stream = stream
        self.externalID = externalID
    }

    /// The row identity bound into the record's ciphertext: a JSON array, so no choice of
    /// stream or id can make two keys spell the same.
    public var rowIdentity: String {
        JSONValue.array([.string(connection.uuidString.lowercased()), .string(stream), .string(externalID)]).canonicalJSON
    }
}
