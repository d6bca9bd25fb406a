import Foundation
import HubCore

/// A stream sync job's arguments: IDs and flags only, never credentials.
struct SyncJobArguments: Sendable {
    static let kind = "sync.stream"
    static let queue = "sync"

    let tenant: TenantID
    let connection: UUID
    let stream: String
    let fullRefresh: Bool
    let run: Int64

    var json: JSONValue {
        .object([
            "tenant": .string(tenant.rawValue.uuidString.lowercased()),
            "connection": .string(connection.uuidString.lowercased()),
            "stream": .string(stream),
            "full_refresh": .bool(fullRefresh),
            "run": .number(Double(run)),
        ])
    }

    init(tenant: TenantID, connection: UUID, stream: String, fullRefresh: Bool, run: Int64) {
        self.tenant = tenant
        self.connection = connection
        self.stream = stream
        self.fullRefresh = fullRefresh
        self.run = run
    }

    init(_ json: JSONValue) throws {
        guard case .string(let tenantText)? = json["tenant"], let tenant = UUID(uuidString: tenantText),
              case .string(let connectionText)? = json["connection"], let connection = UUID(uuidString: connectionText),
              case .string(let stream)? = json["stream"], case .number(let run)? = json["run"] else {
            throw HubError(.invalidInput, "a \(Self.kind) job needs tenant, connection, stream and run")
        }
        self.init(tenant: TenantID(tenant), connection: connection, stream: stream,
                  fullRefresh: json["full_refresh"] == .bool(true), run: Int64(run))
    }
}
