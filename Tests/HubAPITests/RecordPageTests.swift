import Foundation
@testable import HubAPI
import HubCore
import HubStore
import Testing

/// The records page encoder, without HTTP or a database: the bytes must be the JSON the API
/// documents, whatever the stored text looks like.
@Suite("Records page encoding")
struct RecordPageTests {
    let connection = UUID(uuidString: "6A1F3C7E-2B4D-4E5F-8A9B-0C1D2E3F4A5B")!
    let at = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

    func row(_ id: String, _ json: String, sealed: Bool = false, deleted: Bool = false) -> RecordRow {
        RecordRow(key: RecordKey(connection: connection, stream: "contacts", externalID: id), dataJSON: json,
                  sealed: sealed ? [1, 2, 3] : nil, keyVersion: sealed ? 1 : nil, changeSequence: 7, syncedAt: at,
                  deletedAt: deleted ? at : nil)
    }

    func decode(_ bytes: [UInt8]) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    @Test func masksRevealsAndSplicesStoredFields() throws {
        let page = RecordPage(connection: connection, stream: "contacts", sensitiveNames: ["email", "phone"])
        let rows = [
            row("a", #"{"name": "Ann \"A\"", "tags": [1, {"x": null}]}"#, sealed: true),
            row("b", #"{"name":"Bob"}"#, sealed: true),
            row("c", "{ }", deleted: true),
        ]
        let revealed: [RecordKey: [String: JSONValue]] = [rows[1].key: ["email": "bob@example.com", "phone": .null]]
        let json = try decode(page.encode(rows, revealed: revealed, more: true))
        let data = try #require(json["data"]?.arrayValue)
        #expect(data.count == 3)
        #expect(data[0]["data"] == ["email": "***", "phone": "***", "name": #"Ann "A""#, "tags": [1, ["x": .null]]])
        #expect(data[1]["data"] == ["email": "bob@example.com", "phone": .null, "name": "Bob"])
        #expect(data[2]["data"] == [:])
        #expect(data[2]["deleted_at"] == "2026-01-01T00:00:00Z")
        #expect(data[0]["deleted_at"] == .null)
        #expect(data[0]["id"] == "a")
        #expect(data[0]["stream"] == "contacts")
        #expect(data[0]["connection_id"] == .string(connection.uuidString.lowercased()))
        #expect(data[0]["synced_at"] == "2026-01-01T00:00:00Z")
        let cursor = try #require(json["next_cursor"]?.stringValue)
        #expect(RecordCursor.decode(cursor) == 7)
    }

    @Test func anEmptyLastPageHasNoCursor() throws {
        let page = RecordPage(connection: connection, stream: "contacts", sensitiveNames: [])
        #expect(try decode(page.encode([], revealed: [:], more: false)) == ["data": [], "next_cursor": .null])
    }
}
