import Foundation

// The CDK's key-reshaping transformations: `KeysToLower`, `KeysToSnakeCase`, `KeysReplace`,
// `FlattenFields` and `DpathFlattenFields`, each written to give exactly the CDK's keys
// (airbyte_cdk/sources/declarative/transformations, 7.39.1).

extension Transformation {
    /// `KeysToLower`: each top-level key lowercased (Python's `str.lower`); of two keys that
    /// lower alike, the later one's value stays.
    static func lowercasingKeys(_ dict: PyDict) -> PyDict {
        var result = PyDict()
        for (key, value) in dict.entries { result[PyValue.string(PyRepr.str(key).lowercased())] = value }
        return result
    }

    /// `KeysReplace`: `old` replaced by `new` in every key, in nested objects too (not inside
    /// lists), as Python's `str.replace` does it: an empty `old` puts `new` between every
    /// character and at both ends.
    static func replacingInKeys(_ dict: PyDict, old: String, new: String) -> PyDict {
        var result = PyDict()
        for (key, value) in dict.entries {
            let name = pythonReplace(PyRepr.str(key), old, new)
            if case .dict(let inner) = value { result[.string(name)] = .dict(replacingInKeys(inner, old: old, new: new)) }
            else { result[.string(name)] = value }
        }
        return result
    }

    static func pythonReplace(_ text: String, _ old: String, _ new: String) -> String {
        guard old.isEmpty else { return text.replacingOccurrences(of: old, with: new) }
        return new + text.map { String($0) + new }.joined()
    }

    /// `KeysToSnakeCase`: every key, nested objects included (not inside lists), split into
    /// words as the CDK's pattern `[A-Z]+[a-z]*|[a-z]+|\d+|[^a-zA-Z\d]+` splits it, and joined
    /// by underscores in lower case.
    static func snakeCasingKeys(_ dict: PyDict) -> PyDict {
        var result = PyDict()
        for (key, value) in dict.entries {
            let name = snakeCase(PyRepr.str(key))
            if case .dict(let inner) = value { result[.string(name)] = .dict(snakeCasingKeys(inner)) }
            else { result[.string(name)] = value }
        }
        return result
    }

    static func snakeCase(_ key: String) -> String {
        let characters = Array(asciiFolded(key).utf8)
        var tokens: [String] = []
        var index = 0
        func run(_ accepts: (UInt8) -> Bool) -> Int {
            var end = index
            while end < characters.count, accepts(characters[end]) { end += 1 }
            return end
        }
        let upper = { (c: UInt8) in c >= 65 && c <= 90 }, lower = { (c: UInt8) in c >= 97 && c <= 122 }
        let digit = { (c: UInt8) in c >= 48 && c <= 57 }
        while index < characters.count {
            let c = characters[index]
            var end: Int
            var isSeparator = false
            if upper(c) {
                end = run(upper)
                while end < characters.count, lower(characters[end]) { end += 1 }
            } else if lower(c) {
                end = run(lower)
            } else if digit(c) {
                end = run(digit)
            } else {
                end = run { !upper($0) && !lower($0) && !digit($0) }
                isSeparator = true
            }
            tokens.append(isSeparator ? "" : String(decoding: characters[index..<end], as: UTF8.self))
            index = end
        }
        if tokens.count >= 3 { tokens = [tokens[0]] + tokens[1..<(tokens.count - 1)].filter { !$0.isEmpty } + [tokens[tokens.count - 1]] }
        if let first = tokens.first, !first.isEmpty, first.utf8.allSatisfy(digit) { tokens.insert("", at: 0) }
        return tokens.map { $0.lowercased() }.joined(separator: "_")
    }

    /// The CDK transliterates keys with `anyascii` first. Accented Latin letters fold to their
    /// base letter here as there; a character with no ASCII decomposition (CJK, say) is
    /// dropped, where `anyascii` would spell it out: such keys differ from the CDK's.
    static func asciiFolded(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
        var folded = ""
        for scalar in text.decomposedStringWithCompatibilityMapping.unicodeScalars where scalar.isASCII {
            folded.unicodeScalars.append(scalar)
        }
        return folded
    }

    /// `FlattenFields`: nested objects (and lists, with `flatten_lists`) become top-level keys,
    /// by the CDK's own stack walk: a key keeps its bare name unless an earlier leaf took it, and
    /// once any list was met every later key is written with its parent's path.
    static func flattening(_ dict: PyDict, lists: Bool) -> PyDict {
        var stack: [(PyValue, String)] = [(.dict(dict), "_")]
        var result = PyDict()
        var withParentName = false
        while let (current, parent) = stack.popLast() {
            switch current {
            case .dict(let inner):
                for (key, value) in inner.entries {
                    let name = PyRepr.str(key)
                    let taken = result[.string(name)] != nil
                    stack.append((value, taken || withParentName ? "\(parent).\(name)" : name))
                }
            case .list(let items) where lists:
                for (offset, item) in items.enumerated() {
                    withParentName = true
                    stack.append((item, "\(parent).\(offset)"))
                }
            default:
                result[.string(parent)] = current
            }
        }
        return result
    }

    /// `DpathFlattenFields`: the object at `path` merged into the record (its keys with the
    /// prefix and suffix), unless one of them is a key the record has; or, with
    /// `replace_record`, in place of the record. A `*` segment takes the first match.
    static func flatteningPath(_ dict: PyDict, path: [String], deleteOrigin: Bool, replaceRecord: Bool,
                               prefix: String?, suffix: String?) -> PyDict {
        guard case .dict(let found)? = firstMatch(.dict(dict), path[...]) else { return dict }
        var extracted = PyDict()
        for (key, value) in found.entries {
            extracted[.string((prefix ?? "") + PyRepr.str(key) + (suffix ?? ""))] = value
        }
        if replaceRecord, !extracted.isEmpty { return extracted }
        if extracted.keys.contains(where: { dict[$0] != nil }) { return dict }
        var merged = dict
        if deleteOrigin, case .dict(let remaining) = deleting(path[...], from: .dict(dict)) { merged = remaining }
        for (key, value) in extracted.entries { merged[key] = value }
        return merged
    }

    /// dpath's lookup: object keys by name, list items by index, `*` for any.
    static func firstMatch(_ value: PyValue, _ path: ArraySlice<String>) -> PyValue? {
        guard let segment = path.first else { return value }
        switch value {
        case .dict(let dict):
            if segment == "*" {
                for child in dict.values { if let found = firstMatch(child, path.dropFirst()) { return found } }
                return nil
            }
            return dict[.string(segment)].flatMap { firstMatch($0, path.dropFirst()) }
        case .list(let items):
            if segment == "*" {
                for child in items { if let found = firstMatch(child, path.dropFirst()) { return found } }
                return nil
            }
            guard let index = Int(segment), items.indices.contains(index) else { return nil }
            return firstMatch(items[index], path.dropFirst())
        default:
            return nil
        }
    }

    /// dpath's delete of every match of `path`.
    static func deleting(_ path: ArraySlice<String>, from value: PyValue) -> PyValue {
        guard let segment = path.first else { return value }
        let last = path.count == 1
        switch value {
        case .dict(var dict):
            let keys = segment == "*" ? Array(dict.keys) : [PyValue.string(segment)]
            for key in keys {
                guard let child = dict[key] else { continue }
                dict[key] = last ? nil : deleting(path.dropFirst(), from: child)
            }
            return .dict(dict)
        case .list(var items):
            guard segment != "*", let index = Int(segment), items.indices.contains(index) else { return value }
            if last { items.remove(at: index) } else { items[index] = deleting(path.dropFirst(), from: items[index]) }
            return .list(items)
        default:
            return value
        }
    }
}

extension ExpressionContext {
    /// What the CDK evaluates some fields against: the config, with no record or slice.
    var configOnly: ExpressionContext {
        ExpressionContext(variables: variables["config"].map { ["config": $0] } ?? [:], now: now)
    }
}
