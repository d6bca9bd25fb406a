import Foundation
import HubCore

/// A verified webhook's payload read through its connector's policy: the provider's event
/// id (for replay protection), its type, and what it does to which record.
public struct WebhookEvent: Sendable {
    public let id: String
    public let type: String
    public let account: String?
    public let payload: JSONValue

    /// Reads the id, type and account; an event without an id can't be deduplicated, so it is refused.
    public init(body: [UInt8], header: (String) -> String?, policy: WebhookPolicy) throws {
        guard let payload = try? JSONDecoder().decode(JSONValue.self, from: Data(body)), case .object = payload else {
            throw HubError(.invalidInput, "the webhook body is not a JSON object")
        }
        self.payload = payload
        switch policy.eventID {
        case .payload(let path):
            guard let id = Self.lookup(payload, path)?.scalarText, !id.isEmpty else {
                throw HubError(.invalidInput, "the webhook has no event id at \(path.joined(separator: "."))")
            }
            self.id = id
        case .header(let name):
            guard let id = header(name), !id.isEmpty else {
                throw HubError(.invalidInput, "the webhook has no event id in the \(name) header")
            }
            self.id = id
        }
        guard let type = Self.lookup(payload, policy.eventType)?.scalarText else {
            throw HubError(.invalidInput, "the webhook has no event type at \(policy.eventType.joined(separator: "."))")
        }
        self.type = type
        account = policy.accountPath.flatMap { Self.lookup(payload, $0)?.scalarText }
    }

    public init(id: String, type: String, account: String?, payload: JSONValue) {
        self.id = id
        self.type = type
        self.account = account
        self.payload = payload
    }

    /// The record the event carries for its route (the payload itself for an empty path).
    public func record(_ route: WebhookPolicy.Route) throws -> [String: JSONValue] {
        guard case .object(let record)? = Self.lookup(payload, route.recordPath) else {
            throw HubError(.invalidInput, "webhook event \(id) (\(type)) has no record object at \(route.recordPath.isEmpty ? "the top level" : route.recordPath.joined(separator: "."))")
        }
        return record
    }

    static func lookup(_ value: JSONValue, _ path: [String]) -> JSONValue? {
        var current: JSONValue? = value
        for key in path { current = current?[key] }
        return current
    }
}
