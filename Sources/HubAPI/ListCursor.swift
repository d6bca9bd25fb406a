import Foundation

/// A list's opaque cursor: `kind:key`, base64url-encoded. The kind ties a cursor to the list
/// that issued it, so one list's cursor is refused by another.
enum ListCursor {
    static func encode(_ key: String, kind: String) -> String {
        Data("\(kind):\(key)".utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String, kind: String) -> String? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8), plain.hasPrefix(kind + ":") else {
            return nil
        }
        return String(plain.dropFirst(kind.count + 1))
    }

    /// A `(time, id)` key as `micros,uuid`.
    static func timeKey(_ key: String?) -> (micros: Int64, id: UUID)?? {
        guard let key else { return .some(nil) }
        let parts = key.split(separator: ",")
        guard parts.count == 2, let micros = Int64(parts[0]), let id = UUID(uuidString: String(parts[1])) else { return nil }
        return .some((micros, id))
    }
}
