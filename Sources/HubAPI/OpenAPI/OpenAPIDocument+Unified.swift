import HubCore

extension OpenAPIDocument {
    /// `POST /graphql`. Its schema is GraphQL's own (introspect it); this describes the envelope.
    static let graphQLPath: JSONValue = .object(["post": operation(
        "GraphQL over the unified entities, their sources and records (records:read; sensitive values in clear, audited, "
            + "for records:read-sensitive). Limits: depth 15, 2,000 selected fields, cost 5,000; a query past one answers 200 "
            + "with `errors[].extensions.code` query_too_deep, query_too_large, query_too_costly or query_conflict",
        tag: "unified",
        body: .object([
            "type": .string("object"), "required": .array([.string("query")]), "additionalProperties": .bool(false),
            "properties": .object([
                "query": .object(["type": .string("string"), "maxLength": .number(65_536),
                                  "description": .string("The GraphQL document (at most 64 KiB of UTF-8)")]),
                "variables": .object(["type": .array([.string("object"), .string("null")]), "description": .string("Values of the document's variables")]),
                "operationName": .object(["type": .array([.string("string"), .string("null")]),
                                          "description": .string("Which operation of the document to run")]),
                "extensions": .object(["type": .array([.string("object"), .string("null")]), "description": .string("Ignored")]),
            ]),
        ]),
        responses: [
            "200": json(.object([
                "type": .string("object"),
                "properties": .object([
                    "data": .object(["type": .array([.string("object"), .string("null")])]),
                    "errors": .object(["type": .string("array"), "items": .object([
                        "type": .string("object"), "required": .array([.string("message")]),
                        "properties": .object(["message": .object(["type": .string("string")]), "extensions": anyObject]),
                    ])]),
                ]),
            ]), "The result: `data`, and `errors` for each problem of the query or of a field"),
            "400": problem("Not a GraphQL request; `errors` lists each field"),
            "403": problem("The key lacks records:read, or belongs to no tenant"),
            "413": problem("The body exceeds the API's limit"),
        ]
    )])

    /// `GET /v1/unified/{model}/changes`: the feed of every entity change, merges and removals included.
    static func unifiedChangesPath(badRequest: JSONValue, forbidden: JSONValue, notFound: JSONValue) -> JSONValue {
        let uuid: JSONValue = .object(["type": .string("string"), "format": .string("uuid")])
        let change = object([
            "id": uuid,
            "change": .object(["type": .string("string"), "enum": .array([.string("updated"), .string("merged"), .string("deleted")]),
                               "description": .string("merged: read merged_into instead; deleted: no source is left")]),
            "merged_into": .object(["type": .array([.string("string"), .string("null")]), "format": .string("uuid")]),
            "changed_at": timestamp,
        ])
        return .object(["get": operation(
            "The change feed of a model's entities (records:read): each entity changed after the cursor, in change order, merged and "
                + "emptied ones included; `next_cursor` is always set, to poll for later changes",
            tag: "unified",
            parameters: [parameter("model", in: "path", required: true, schema: string("Model name"), description: "The model")] + pageParameters,
            responses: [
                "200": json(object(["data": .object(["type": .string("array"), "items": change]), "next_cursor": string("Where to resume"),
                                    "has_more": boolean]), "Changes"),
                "400": badRequest, "403": forbidden, "404": notFound,
            ]
        )])
    }
}
