import Foundation

/// A list's opaque cursor: `kind:key`, base64url-encoded. The kind ties a cursor to the list
/// that issued it, so one list's cursor is refused by another.
package enum ListCursor {
    package static func encode(_ key: String, kind: String) -> String {
        Data("\(kind):\(key)".utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    package static func decode(_ text: String, kind: String) -> String? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        // Bytes, not characters: a key starting with a combining mark would join the ':' into
        // one grapheme, and a character-wise prefix test would then refuse the server's own cursor.
        let prefix = Array((kind + ":").utf8)
        guard let data = Data(base64Encoded: base64), data.starts(with: prefix),
              let key = String(data: data.dropFirst(prefix.count), encoding: .utf8) else {
            return nil
        }
        return key
    }

    /// A `(time, id)` key as `micros,uuid`.
    package static func timeKey(_ key: String?) -> (micros: Int64, id: UUID)?? {
        guard let key else { return .some(nil) }
        let parts = key.split(separator: ",")
        guard parts.count == 2, let micros = Int64(parts[0]), let id = UUID(uuidString: String(parts[1])) else { return nil }
        return .some((micros, id))
    }
}
