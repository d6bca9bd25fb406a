import Foundation
import HubCore
import HubStore

/// Writes a page of `GET /v1/records` as JSON bytes. Each record's stored JSON text is spliced
/// in as it came from PostgreSQL, with masked or revealed sensitive fields added, instead of
/// being parsed and re-encoded: this is the records API's hot path. Tested without HTTP.
struct RecordPage: Sendable {
    static let mask = "***"

    let connection: UUID
    let stream: String
    /// The stream's sensitive fields, sorted: masked in records whose fields were not revealed.
    let sensitiveNames: [String]

    /// `{"data": [...], "next_cursor": ...}` for `rows`; `revealed` holds the decrypted
    /// sensitive fields of the records the key may read in clear.
    func encode(_ rows: [RecordRow], revealed: [RecordKey: [String: JSONValue]], more: Bool) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(rows.reduce(64) { $0 + $1.dataJSON.utf8.count + 256 })
        let connectionText = connection.uuidString.lowercased()
        body.append(contentsOf: Array(#"{"data":["#.utf8))
        for (index, row) in rows.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: Array(#"{"connection_id":""#.utf8))
            body.append(contentsOf: Array(connectionText.utf8))
            body.append(contentsOf: Array(#"","data":{"#.utf8))
            var added = 0
            if let fields = revealed[row.key] {
                for name in fields.keys.sorted() {
                    if added > 0 { body.append(UInt8(ascii: ",")) }
                    JSONValue.appendQuoted(name, to: &body)
                    body.append(UInt8(ascii: ":"))
                    fields[name]!.appendCanonical(to: &body)
                    added += 1
                }
            } else if row.sealed != nil {
                for name in sensitiveNames {
                    if added > 0 { body.append(UInt8(ascii: ",")) }
                    JSONValue.appendQuoted(name, to: &body)
                    body.append(contentsOf: Array(#":"\#(Self.mask)""#.utf8))
                    added += 1
                }
            }
            // The stored object without its braces (sensitive fields are never in it, so no key repeats).
            let stored = row.dataJSON.utf8
            if let open = stored.firstIndex(of: UInt8(ascii: "{")), let close = stored.lastIndex(of: UInt8(ascii: "}")), open < close {
                let inner = stored[stored.index(after: open)..<close]
                if inner.contains(where: { $0 != UInt8(ascii: " ") }) {
                    if added > 0 { body.append(UInt8(ascii: ",")) }
                    body.append(contentsOf: inner)
                }
            }
            body.append(contentsOf: Array(#"},"deleted_at":"#.utf8))
            if let deleted = row.deletedAt { JSONValue.appendQuoted(RFC3339.string(deleted), to: &body) } else { body.append(contentsOf: Array("null".utf8)) }
            body.append(contentsOf: Array(#","id":"#.utf8))
            JSONValue.appendQuoted(row.key.externalID, to: &body)
            body.append(contentsOf: Array(#","stream":"#.utf8))
            JSONValue.appendQuoted(stream, to: &body)
            body.append(contentsOf: Array(#","synced_at":"#.utf8))
            JSONValue.appendQuoted(RFC3339.string(row.syncedAt), to: &body)
            body.append(UInt8(ascii: "}"))
        }
        body.append(contentsOf: Array(#"],"next_cursor":"#.utf8))
        if more { JSONValue.appendQuoted(RecordCursor.encode(rows.last!.changeSequence), to: &body) } else { body.append(contentsOf: Array("null".utf8)) }
        body.append(UInt8(ascii: "}"))
        return body
    }
}
