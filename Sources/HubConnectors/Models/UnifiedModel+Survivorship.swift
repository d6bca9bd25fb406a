import Foundation
import HubCore

extension UnifiedModel {
    /// One source's mapped fields, as survivorship weighs them.
    public struct SourceFields: Sendable {
        public let connector: String
        /// When the source last changed (its record's own timestamp, else when it was stored).
        public let changedAt: Date
        public let fields: [String: JSONValue]

        public init(connector: String, changedAt: Date, fields: [String: JSONValue]) {
            self.connector = connector
            self.changedAt = changedAt
            self.fields = fields
        }
    }

    /// The entity's fields by the model's survivorship rules, each with the index of the
    /// source it came from. A field no source has is absent; under `priority`, the first listed
    /// connector with a value wins, and the most recent change among the rest otherwise.
    public func survivingFields(_ sources: [SourceFields]) -> [String: (value: JSONValue, source: Int)] {
        var result: [String: (JSONValue, Int)] = [:]
        for field in fields {
            let holders = sources.indices.filter { index in
                guard let value = sources[index].fields[field] else { return false }
                return value != .null
            }
            guard !holders.isEmpty else { continue }
            var chosen: Int?
            if case .priority(let connectors) = survivorship(of: field) {
                for connector in connectors {
                    if let found = holders.filter({ sources[$0].connector == connector }).max(by: { sources[$0].changedAt < sources[$1].changedAt }) {
                        chosen = found
                        break
                    }
                }
            }
            // Most recent; on a tie the later source (as stored) wins, so the answer is stable.
            let winner = chosen ?? holders.max { sources[$0].changedAt <= sources[$1].changedAt }!
            result[field] = (sources[winner].fields[field]!, winner)
        }
        return result
    }
}
