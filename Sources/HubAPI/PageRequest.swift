import Foundation
import HubCore
import Hummingbird

/// `limit` and `cursor` of a list endpoint. Cursors are opaque to clients: the list's kind
/// and the last row's sort key, base64url-encoded; a cursor from another list, or one that does
/// not decode, is a 400 naming the parameter. Cursors are not signed, on purpose: an edited one
/// that still decodes is only another position in the caller's own list, because every page
/// is queried with the key's tenant filter (`TenantIsolationTests` forges them).
package struct PageRequest {
    package let limit: Int
    /// The sort key after which the page starts, decoded.
    package let after: String?

    package static func parse(_ request: Request, defaultLimit: Int = 50, maxLimit: Int = 500, kind: String,
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
