import HubCore
import HubStore

/// The document's `components.schemas`: the bodies the routes answer with.
extension OpenAPIDocument {
    static let schemas: [String: JSONValue] = [
        "Problem": object([
            "type": .object(["type": .string("string")]), "title": .object(["type": .string("string")]), "status": integer,
            "detail": .object(["type": .string("string")]), "code": .object(["type": .string("string")]),
            "request_id": .object(["type": .string("string")]),
            "errors": .object(["type": .string("array"), "items": object(["field": .object(["type": .string("string")]),
                                                                          "message": .object(["type": .string("string")])])]),
        ], required: ["type", "title", "status", "detail", "code", "request_id"]),
        "Record": object([
            "id": .object(["type": .string("string")]), "connection_id": .object(["type": .string("string"), "format": .string("uuid")]),
            "stream": .object(["type": .string("string")]), "data": anyObject, "synced_at": timestamp, "deleted_at": nullableTimestamp,
        ]),
        "Connection": object([
            "id": .object(["type": .string("string"), "format": .string("uuid")]), "connector": .object(["type": .string("string")]),
            "connector_version": integer, "account": .object(["type": .string("string")]),
            "status": .object(["type": .string("string"), "enum": .array(ConnectionStatus.allCases.map { .string($0.rawValue) })]),
            "last_error": .object(["type": .array([.string("object"), .string("null")])]), "created_at": timestamp,
        ]),
        "ConnectionDetail": .object(["allOf": .array([ref("Connection"), object([
            "config": anyObject, "streams": .object(["type": .string("array"), "items": ref("SyncRun")]),
        ])])]),
        "SyncStarted": object(["stream": .object(["type": .string("string")]), "run_id": integer, "job_id": integer]),
        "SyncRun": object([
            "id": integer, "stream": .object(["type": .string("string")]),
            "status": .object(["type": .string("string"), "enum": .array(RunStatus.allCases.map { .string($0.rawValue) })]),
            "full_refresh": boolean, "records_read": integer, "records_written": integer, "records_deleted": integer, "pages": integer,
            "partitions": integer, "partitions_settled": integer,
            "attempts": integer,
            "last_attempt": object(["records_read": integer, "records_written": integer, "pages": integer]),
            "error": .object(["type": .array([.string("object"), .string("null")])]), "created_at": timestamp,
            "started_at": nullableTimestamp, "finished_at": nullableTimestamp,
        ]),
        "ConnectorSummary": object(["name": .object(["type": .string("string")]), "latest_version": integer, "versions": integer,
                                    "updated_at": timestamp]),
        "Connector": object([
            "name": .object(["type": .string("string")]), "version": integer, "checksum": .object(["type": .string("string")]),
            "runtime": .object([
                "type": .string("string"),
                "description": .string("engine (an Airbyte manifest run natively), or PACKAGE==VERSION of an Airbyte source run as a process"),
            ]),
            "streams": .object(["type": .string("array"), "items": object([
                "name": .object(["type": .string("string")]), "incremental": boolean,
                "primary_key": .object(["type": .string("array"), "items": .object(["type": .string("string")])]),
                "sensitive": .object(["type": .string("array"), "items": .object(["type": .string("string")])]),
                "blind_indexed": .object(["type": .string("array"), "items": .object(["type": .string("string")])]),
                "unified": .object(["type": .string("object"), "description": .string("Model name to the model fields the stream's records fill"),
                                    "additionalProperties": .object(["type": .string("array"), "items": .object(["type": .string("string")])])]),
            ])]),
        ]),
        "ConnectorRegistered": object(["name": .object(["type": .string("string")]), "version": integer, "created": boolean,
                                       "streams": .object(["type": .string("array"), "items": .object(["type": .string("string")])])]),
        "WebhookEvent": object([
            "id": integer, "event_id": .object(["type": .string("string")]), "event_type": .object(["type": .string("string")]),
            "status": .object(["type": .string("string"), "enum": .array(WebhookEventStatus.allCases.map { .string($0.rawValue) })]),
            "error": nullableString, "received_at": timestamp, "processed_at": nullableTimestamp,
        ]),
        "Tenant": object(["id": .object(["type": .string("string"), "format": .string("uuid")]), "name": .object(["type": .string("string")]),
                          "created_at": timestamp, "shredded_at": nullableTimestamp]),
        "ModelSummary": object(["name": .object(["type": .string("string")]), "latest_version": integer, "versions": integer, "updated_at": timestamp]),
        "ModelRegistered": object(["name": .object(["type": .string("string")]), "version": integer, "created": boolean,
                                    "rederiving_connections": integer]),
        "Model": object([
            "name": .object(["type": .string("string")]), "version": integer, "checksum": .object(["type": .string("string")]),
            "description": nullableString,
            "fields": .object(["type": .string("array"), "items": object([
                "name": .object(["type": .string("string")]), "sensitive": boolean,
                "identity": nullableString, "survivorship": .object([:]),
            ])]),
        ]),
        "UnifiedEntity": object([
            "id": .object(["type": .string("string"), "format": .string("uuid")]), "model": .object(["type": .string("string")]),
            "updated_at": timestamp, "fields": anyObject,
            "field_sources": .object(["type": .string("object"), "additionalProperties": integer,
                                      "description": .string("Each field's source, as an index into sources")]),
            "sources": .object(["type": .string("array"), "items": object([
                "connection_id": .object(["type": .string("string"), "format": .string("uuid")]), "connector": .object(["type": .string("string")]),
                "stream": .object(["type": .string("string")]), "external_id": .object(["type": .string("string")]), "changed_at": timestamp,
                "record": .object(["type": .array([.string("object"), .string("null")]), "description": .string("With include=raw")]),
            ], required: ["connection_id", "connector", "stream", "external_id", "changed_at"])]),
        ]),
        "TenantQuota": object([
            "tenant_id": .object(["type": .string("string"), "format": .string("uuid")]), "queue": .object(["type": .string("string")]),
            "weight": .object(["type": .array([.string("integer"), .string("null")])]),
            "max_running": .object(["type": .array([.string("integer"), .string("null")])]),
            "effective": object(["weight": integer, "max_running": .object(["type": .array([.string("integer"), .string("null")])])]),
        ]),
        "Job": object([
            "id": integer, "kind": .object(["type": .string("string")]), "queue": .object(["type": .string("string")]), "args": anyObject,
            "state": .object(["type": .string("string")]), "attempt": integer, "max_attempts": integer, "run_at": timestamp,
            "errors": .object(["type": .string("array")]), "created_at": timestamp, "finalized_at": nullableTimestamp,
            "progress": .object(["type": .array([.string("object"), .string("null")]), "description": .string("What a long job last reported")]),
        ]),
    ]
}
