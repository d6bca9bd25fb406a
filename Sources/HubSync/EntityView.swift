import Foundation
import HubConnectors
import HubCore
import HubStore

/// An entity as the APIs show it: its fields merged from its sources by the model's
/// survivorship rules, and which source each field came from. The REST and GraphQL reads
/// share it, so both answer the same for the same key.
public struct EntityView: Sendable {
    /// What an unrevealed sensitive field reads as.
    public static let mask = "***"

    public let entity: EntityReader.Entity
    /// The merged fields; a sensitive one is `***` unless its sources were revealed.
    public let fields: [String: JSONValue]
    /// Per merged field, the index in `entity.sources` of the source it came from.
    public let origins: [String: Int]

    public init(_ entity: EntityReader.Entity, model: UnifiedModel) {
        let sources = entity.sources.map { source in
            // Unrevealed sensitive fields take part in survivorship as present, shown masked:
            // which source wins must not depend on whether the reader may see the value.
            var fields = source.data
            if let sensitive = source.sensitive {
                for (key, value) in sensitive { fields[key] = value }
            } else if source.hasSensitive {
                for field in model.sensitive where fields[field] == nil { fields[field] = .string(Self.mask) }
            }
            return UnifiedModel.SourceFields(connector: source.connector, changedAt: source.changedAt, fields: fields)
        }
        var fields: [String: JSONValue] = [:], origins: [String: Int] = [:]
        for (name, (value, index)) in model.survivingFields(sources) {
            fields[name] = value
            origins[name] = index
        }
        self.entity = entity
        self.fields = fields
        self.origins = origins
    }
}

extension EntityReader.Source {
    /// When the source last changed: its record's own timestamp, else when it was stored.
    public var changedAt: Date { sourceUpdatedAt ?? updatedAt }
}
