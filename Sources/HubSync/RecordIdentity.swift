import Foundation
import HubConnectors
import HubCore
import HubStore

/// How a stream's records are keyed and ordered in the store: the external id from the
/// primary key, and the provider's change time from the cursor field. Polled pages and
/// webhook events use the same rules, so both land on the same row.
struct RecordIdentity: Sendable {
    let stream: String
    let primaryKey: [[String]]
    let updatedAtField: String?

    init(definition: ConnectorDefinition, stream: String) {
        self.stream = stream
        primaryKey = definition.primaryKey(stream)
        updatedAtField = definition.updatedAtField(stream)
    }

    /// The record's id: its primary key values, joined when composite.
    func externalID(_ fields: [String: JSONValue], describing record: @autoclosure () -> String) throws -> String {
        let parts = try primaryKey.map { path -> String in
            var value: JSONValue? = .object(fields)
            for key in path { value = value?[key] }
            guard let value, value != .null, let text = value.scalarText else {
                throw HubError(.invalidInput, "\(record()) of stream \(stream) has no primary key \(path.joined(separator: "."))")
            }
            return text
        }
        return parts.joined(separator: "|")
    }

    func input(_ fields: [String: JSONValue], describing record: @autoclosure () -> String) throws -> RecordWriter.Input {
        RecordWriter.Input(externalID: try externalID(fields, describing: record()), fields: fields,
                          sourceUpdatedAt: updatedAtField.flatMap { SourceTimestamp.parse(fields[$0]) })
    }
}
