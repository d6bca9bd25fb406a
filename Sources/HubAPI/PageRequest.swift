import Foundation
import Hummingbird

/// `limit` and `cursor` of a list endpoint. Cursors are opaque to clients: a version tag and
/// the last row's sort key, base64url-encoded; a cursor from another list or a tampered one is
/// a 400 naming the parameter, never a wrong page.
struct PageRequest {
    let limit: Int
    /// The sort key after which the page starts, decoded.
    let after: String?

    static func parse(_ request: Request, defaultLimit: Int = 50, maxLimit: Int = 500, kind: String,
                      errors: inout [String: String]) -> PageRequest {
        let query = request.uri.queryParameters
        var limit = defaultLimit
        if let raw = query["limit"] {
            if let value = Int(raw), (1...maxLimit).contains(value) { limit = value } else { errors["limit"] = "must be a number from 1 to \(maxLimit)" }
        }
        var after: String?
        if let raw = query["cursor"] {
            if let key = ListCursor.decode(String(raw), kind: kind) { after = key } else { errors["cursor"] = "is not a cursor this list returned" }
        }
        return PageRequest(limit: limit, after: after)
    }
}

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
