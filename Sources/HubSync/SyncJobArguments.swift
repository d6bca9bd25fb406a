import Foundation
import HubCore
import HubStore
import PostgresNIO

/// A stream sync job's arguments: IDs and flags only, never credentials.
struct SyncJobArguments: Sendable {
    static let kind = "sync.stream"
    static let queue = "sync"

    let tenant: TenantID
    let connection: UUID
    let stream: String
    let fullRefresh: Bool
    let run: Int64
    /// For one partition's job: the partition's slice values (parent ids, list values).
    let partition: JSONValue?

    /// The partition's name in `sync_state` and `sync_run_partitions`; "" for the whole stream.
    var partitionKey: String { partition?.canonicalJSON ?? "" }

    var json: JSONValue {
        var fields: [String: JSONValue] = [
            "tenant": .string(tenant.rawValue.uuidString.lowercased()),
            "connection": .string(connection.uuidString.lowercased()),
            "stream": .string(stream),
            "full_refresh": .bool(fullRefresh),
            "run": .number(Double(run)),
        ]
        if let partition { fields["partition"] = partition }
        return .object(fields)
    }

    init(tenant: TenantID, connection: UUID, stream: String, fullRefresh: Bool, run: Int64, partition: JSONValue? = nil) {
        self.tenant = tenant
        self.connection = connection
        self.stream = stream
        self.fullRefresh = fullRefresh
        self.run = run
        self.partition = partition
    }

    /// The same sync, narrowed to one partition.
    func narrowed(to partition: JSONValue) -> SyncJobArguments {
        SyncJobArguments(tenant: tenant, connection: connection, stream: stream, fullRefresh: fullRefresh, run: run,
                         partition: partition)
    }

    init(_ json: JSONValue) throws {
        guard case .string(let tenantText)? = json["tenant"], let tenant = UUID(uuidString: tenantText),
              case .string(let connectionText)? = json["connection"], let connection = UUID(uuidString: connectionText),
              case .string(let stream)? = json["stream"], case .number(let run)? = json["run"] else {
            throw HubError(.invalidInput, "a \(Self.kind) job needs tenant, connection, stream and run")
        }
        var partition: JSONValue?
        switch json["partition"] {
        case nil, .null?: partition = nil
        case .object?: partition = json["partition"]
        default: throw HubError(.invalidInput, "a \(Self.kind) job's partition must be an object of slice values")
        }
        self.init(tenant: TenantID(tenant), connection: connection, stream: stream,
                  fullRefresh: json["full_refresh"] == .bool(true), run: Int64(run), partition: partition)
    }
}

extension SyncJobArguments {
    /// Ends this job's share of its run, in the job's completing transaction: a partition job
    /// settles its partition (the last one closes the run); a stream job closes the run.
    func finish(on database: PostgresConnection, runs: RunStore) async throws {
        if partition != nil {
            try await runs.settlePartition(on: database, run: run, partition: partitionKey, connection: connection, succeeded: true)
        } else {
            try await runs.finishRun(on: database, run: run, connection: connection)
        }
    }
}
