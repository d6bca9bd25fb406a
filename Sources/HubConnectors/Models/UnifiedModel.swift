import HubCrypto

/// A unified model (`models/person.yaml`): the shape that records from every source are
/// mapped into, so that what several sources know about one person or company reads as one
/// entity. Data, not code: registered and versioned like connectors, no rebuild.
///
/// ```yaml
/// name: person
/// description: A human being, as the sources know them.
/// schema:                      # JSON Schema of the model's fields
///   type: object
///   properties:
///     email: {type: string}
///     full_name: {type: string}
/// sensitive: [email]           # sealed under the tenant's key, as record fields are
/// identity:                    # blind-indexed keys that link records to one entity
///   email: email               # field: normalization (email, phone_digits, domain, exact)
/// survivorship:                # when sources disagree; default: the most recent change wins
///   full_name: {priority: [crm, billing]}   # connector names, first present wins
/// ```
public struct UnifiedModel: Sendable {
    /// How an identity key's values are made comparable before they are blind-indexed.
    public static let normalizations: [String: BlindIndexNormalizer] = [
        "email": .lowercaseTrim, "phone_digits": .digits, "domain": .domain, "exact": .exact,
    ]

    /// Which source's value a field takes when sources disagree.
    public enum Survivorship: Sendable, Equatable {
        /// The source whose record changed last.
        case mostRecent
        /// The first of these connectors that has a value; the most recent among the rest.
        case priority([String])
    }

    public let name: String
    public let description: String?
    /// The JSON Schema of the model, as written.
    public let schema: PyValue
    /// The schema's properties, in the order written.
    public let fields: [String]
    public let sensitive: Set<String>
    /// The identity keys, in the order written: each a field and its normalization.
    public let identity: [BlindIndexField]
    /// Per field; a field not named here is `.mostRecent`.
    public let survivorship: [String: Survivorship]
    /// The YAML as registered.
    public let text: String

    /// The rule for one field.
    public func survivorship(of field: String) -> Survivorship { survivorship[field] ?? .mostRecent }

    /// The name of the field's identity normalization (`email`, `phone_digits`, …), or nil when
    /// it is no identity key.
    public func identityNormalization(of field: String) -> String? {
        guard let key = identity.first(where: { $0.name == field }) else { return nil }
        return Self.normalizations.first { $0.value == key.normalizer }?.key ?? key.normalizer.rawValue
    }

    public init(yaml: String, source: String = "model.yaml") throws {
        let document = try YAMLDocument.load(yaml, source: source)
        let root = try ComponentNode(document, path: .root)
        var problems: [ManifestError] = []
        let settings = ["name", "description", "schema", "sensitive", "identity", "survivorship"]
        for key in root.fields.keys.map(PyRepr.str) where !settings.contains(key) {
            problems.append(ManifestError(.root.appending(key), "unknown setting; expected one of " + settings.joined(separator: ", ")))
        }
        guard let name = try root.string("name"), Self.isValidName(name) else {
            throw ManifestError(.root.appending("name"), "is required: lower-case letters, digits, _ and -, starting with a letter or digit (at most 100)")
        }
        self.name = name
        description = try root.string("description")
        guard let schema = root.value("schema"), case .dict(let schemaDict) = schema,
              case .dict(let properties)? = schemaDict["properties"], !properties.isEmpty else {
            throw ManifestError(.root.appending("schema"), "is required: a JSON Schema object with at least one property")
        }
        self.schema = schema
        problems += JSONSchemaLint.problems(schema, path: ManifestPath.root.appending("schema"))
        let fieldNames = properties.keys.map(PyRepr.str)
        let known = Set(fieldNames)
        func checkField(_ field: String, at path: ManifestPath) {
            if !known.contains(field) {
                problems.append(ManifestError(path, "\(PyRepr.string(field)) is not a property of the schema (it has \(fieldNames.joined(separator: ", ")))"))
            }
        }
        let sensitiveFields = try root.stringList("sensitive")
        for (index, field) in sensitiveFields.enumerated() { checkField(field, at: ManifestPath.root.appending("sensitive").appending(index)) }

        var identity: [BlindIndexField] = []
        switch root.value("identity") {
        case nil: break
        case .dict(let keys)?:
            for (key, value) in keys.entries {
                let field = PyRepr.str(key)
                let path = ManifestPath.root.appending("identity").appending(field)
                checkField(field, at: path)
                guard case .string(let normalization) = value, let normalizer = Self.normalizations[normalization] else {
                    problems.append(ManifestError(path, "expected a normalization: \(Self.normalizations.keys.sorted().joined(separator: ", "))"))
                    continue
                }
                identity.append(BlindIndexField(name: field, normalizer: normalizer))
            }
        case let other?:
            problems.append(ManifestError(.root.appending("identity"), "expected a mapping of field to normalization, found \(other.typeName)"))
        }

        var survivorship: [String: Survivorship] = [:]
        switch root.value("survivorship") {
        case nil: break
        case .dict(let rules)?:
            for (key, value) in rules.entries {
                let field = PyRepr.str(key)
                let path = ManifestPath.root.appending("survivorship").appending(field)
                checkField(field, at: path)
                switch value {
                case .string("most_recent"):
                    survivorship[field] = .mostRecent
                case .dict(let rule) where rule.count == 1:
                    guard case .list(let names)? = rule["priority"], !names.isEmpty,
                          names.allSatisfy({ if case .string(let text) = $0 { Self.isValidName(text) } else { false } }) else {
                        problems.append(ManifestError(path.appending("priority"), "expected a non-empty list of connector names"))
                        continue
                    }
                    survivorship[field] = .priority(names.map(PyRepr.str))
                default:
                    problems.append(ManifestError(path, "expected most_recent or {priority: [connector, …]}"))
                }
            }
        case let other?:
            problems.append(ManifestError(.root.appending("survivorship"), "expected a mapping of field to rule, found \(other.typeName)"))
        }
        if !problems.isEmpty { throw ManifestProblems(problems: problems, subject: "the model") }
        fields = fieldNames
        sensitive = Set(sensitiveFields)
        self.identity = identity
        self.survivorship = survivorship
        text = yaml
    }

    /// Names as connectors have them, so they fit URLs and CLI arguments unquoted.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 100 else { return false }
        let allowed = { (c: Unicode.Scalar) in ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "_" || c == "-" }
        return allowed(first) && first != "_" && first != "-" && name.unicodeScalars.allSatisfy(allowed)
    }
}
