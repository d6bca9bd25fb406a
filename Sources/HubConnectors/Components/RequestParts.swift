/// A request being assembled from the requester, paginator, cursor, partition router and
/// authenticator, each adding its options.
struct RequestParts: Sendable {
    var method = "GET"
    var url = ""
    var pathOverride: String?
    var parameters = PyDict()
    var headers: [String: String] = [:]
    var bodyJSON = PyDict()
    var bodyData = PyDict()
    /// A data body that rendered to text, sent as it is.
    var rawBody: String?

    static func setting(_ dict: PyDict, at keys: ArraySlice<String>, to value: PyValue) -> PyDict {
        guard let first = keys.first else { return dict }
        var result = dict
        if keys.count == 1 {
            result[first] = value
        } else {
            var inner = PyDict()
            if case .dict(let existing)? = dict[first] { inner = existing }
            result[first] = .dict(setting(inner, at: keys.dropFirst(), to: value))
        }
        return result
    }

    /// The query string, as `requests` encodes a params dict: lists repeat the key, None drops.
    var queryItems: [(String, String)] {
        var items: [(String, String)] = []
        for (key, value) in parameters.entries {
            let name = PyRepr.str(key)
            switch value {
            case .none: continue
            case .list(let values), .tuple(let values): items += values.map { (name, PyRepr.str($0)) }
            default: items.append((name, PyRepr.str(value)))
            }
        }
        return items
    }
}

