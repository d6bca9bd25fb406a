import GraphQL
import HubCore
import OrderedCollections

/// Conversions between Tributary's JSON values and GraphQL's `Map`, and the `JSON` scalar
/// that carries a record's data or a field no GraphQL scalar fits.
enum GraphQLValues {
    static func map(_ value: JSONValue) -> Map {
        switch value {
        case .null: .null
        case .bool(let bool): .bool(bool)
        case .number(let number):
            // Whole numbers stay integers on the wire, as the REST API writes them.
            if number.rounded() == number, abs(number) < 9.007_199_254_740_992e15 { .int(Int(number)) } else { .double(number) }
        case .string(let string): .string(string)
        case .array(let values): .array(values.map(map))
        case .object(let object):
            .dictionary(OrderedDictionary(uniqueKeysWithValues: object.keys.sorted().map { ($0, map(object[$0]!)) }))
        }
    }

    /// A request's `variables`, as the executor takes them.
    static func map(_ object: [String: JSONValue]) -> [String: Map] {
        object.mapValues(map)
    }

    /// Any JSON value, as it is stored. Built with each schema (the library's initializer
    /// throws on an invalid name; this one is valid, but a failure must reach the caller).
    static func jsonScalar() throws -> GraphQLScalarType {
        try GraphQLScalarType(
        name: "JSON",
        description: "Any JSON value: a record's data, or a model field of no simpler type.",
        serialize: { value in
            if let value = value as? Map { return value }
            if let value = value as? JSONValue { return map(value) }
            throw GraphQLError(message: "JSON cannot represent \(type(of: value))")
        }
        )
    }

    /// GraphQL names (`/[_A-Za-z][_0-9A-Za-z]*/`, not starting with `__`, which introspection owns).
    static func isName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, !text.hasPrefix("__") else { return false }
        let letter = { (c: Unicode.Scalar) in ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" }
        return letter(first) && text.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) }
    }

    /// `support-ticket` → `SupportTicket`; a name starting with a digit gets `Model` in front.
    static func typeName(model: String) -> String {
        let words = model.split(whereSeparator: { $0 == "-" || $0 == "_" })
        let joined = words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        return joined.first.map(\.isNumber) == true ? "Model" + joined : joined
    }

    /// `support-ticket` → `supportTicket`, the root field of one entity.
    static func fieldName(model: String) -> String {
        let type = typeName(model: model)
        return type.prefix(1).lowercased() + type.dropFirst()
    }
}
