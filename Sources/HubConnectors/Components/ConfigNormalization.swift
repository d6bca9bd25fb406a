/// `spec.config_normalization_rules`: what the CDK does to a connection's config before it
/// reads. Migrations and transformations rewrite it (remap a value, add a field, remove one),
/// and validations check it (a field against a JSON schema). Tributary applies the migrations
/// and transformations to the config each read is given (they are written to be idempotent,
/// and the stored config stays as the user set it), and fails the read, as the CDK does, on a
/// config a validation refuses.
struct ConfigNormalization: Sendable {
    enum Step: Sendable {
        /// `ConfigRemapField`: the value at the path replaced through the map, when the map has it.
        case remap(path: [BoundInterpolation], map: InterpolatedMapping)
        /// `ConfigAddFields`: each field set at its path (parents created), if the condition
        /// (with `value` and `path`) holds.
        case add(fields: [(path: [String], value: BoundInterpolation)], condition: BoundInterpolation?)
        /// `ConfigRemoveFields`: the pointers removed, if the condition (on the config) holds.
        case remove(pointers: [[String]], condition: BoundInterpolation?)
    }

    enum Validation: Sendable {
        /// `DpathValidator`: the value at the path (each value, with `*`) checked; a path the
        /// config lacks is skipped, as in the CDK.
        case dpath(path: [BoundInterpolation], schema: PyValue, manifestPath: ManifestPath)
        /// `PredicateValidator`: the interpolated value checked.
        case predicate(value: PyValue, parameters: PyValue, schema: PyValue, manifestPath: ManifestPath)
    }

    let migrations: [Step]
    let transformations: [Step]
    let validations: [Validation]

    var isEmpty: Bool { migrations.isEmpty && transformations.isEmpty && validations.isEmpty }

    init(_ node: ComponentNode?) throws {
        guard let node else {
            migrations = []
            transformations = []
            validations = []
            return
        }
        migrations = try node.children("config_migrations").flatMap { migration in
            try migration.children("transformations").map(Self.step)
        }
        transformations = try node.children("transformations").map(Self.step)
        validations = try node.children("validations").map(Self.validation)
    }

    private static func step(_ node: ComponentNode) throws -> Step {
        switch node.type {
        case "ConfigRemapField":
            let segments = try node.stringList("field_path")
            guard !segments.isEmpty else { throw ManifestError(node.path.appending("field_path"), "cannot be empty") }
            guard let map = try node.interpolatedMapping("map") else { throw ManifestError(node.path.appending("map"), "is required") }
            return .remap(path: try segments.map { try node.bind($0, key: "field_path") }, map: map)
        case "ConfigAddFields":
            return .add(fields: try Transformation.addedFields(node), condition: try Transformation.condition(node))
        case "ConfigRemoveFields":
            return .remove(pointers: try Transformation.fieldPointers(node), condition: try Transformation.condition(node))
        default:
            throw ManifestError(node.path, "unsupported config transformation \(node.kindDescription)")
        }
    }

    private static func validation(_ node: ComponentNode) throws -> Validation {
        let strategy = try node.requiredChild("validation_strategy")
        guard strategy.type == "ValidateAdheresToSchema" else {
            throw ManifestError(strategy.path, "unsupported validation strategy \(strategy.kindDescription)")
        }
        var schema = strategy.value("base_schema") ?? .none
        if case .string(let text) = schema {
            // A schema given as JSON text, as the CDK's factory reads it.
            do { schema = try JSONBody.decode(Array(text.utf8), path: strategy.path.appending("base_schema")) } catch {
                throw ManifestError(strategy.path.appending("base_schema"), "is not valid JSON")
            }
        }
        guard case .dict = schema else { throw ManifestError(strategy.path.appending("base_schema"), "expected a JSON schema") }
        switch node.type {
        case "DpathValidator":
            let segments = try node.stringList("field_path")
            guard !segments.isEmpty else { throw ManifestError(node.path.appending("field_path"), "cannot be empty") }
            return .dpath(path: try segments.map { try node.bind($0, key: "field_path") }, schema: schema, manifestPath: node.path)
        case "PredicateValidator":
            guard let value = node.value("value") else { throw ManifestError(node.path.appending("value"), "is required") }
            return .predicate(value: value, parameters: node.parameters, schema: schema, manifestPath: node.path)
        default:
            throw ManifestError(node.path, "unsupported config validation \(node.kindDescription)")
        }
    }

    /// The config as the CDK reads with it: migrated, transformed, and validated.
    func apply(to config: PyValue, now: PyDateTime) throws -> PyValue {
        guard !isEmpty, case .dict(var dict) = config else { return config }
        for step in migrations + transformations { try Self.apply(step, to: &dict, now: now) }
        let context = ExpressionContext(variables: ["config": .dict(dict)], now: now)
        for validation in validations { try Self.check(validation, context: context) }
        return .dict(dict)
    }

    private static func apply(_ step: Step, to dict: inout PyDict, now: PyDateTime) throws {
        var context = ExpressionContext(variables: ["config": .dict(dict)], now: now)
        switch step {
        case .remap(let path, let map):
            let keys = try path.map { PyRepr.str(try $0.evaluate(context)) }
            guard let name = keys.last,
                  case .dict(let parent)? = Transformation.value(at: keys.dropLast(), in: .dict(dict)),
                  let current = parent[name] else { return }
            let mapping = try map.evaluate(context)
            guard let replacement = mapping[current] else { return }
            dict = RequestParts.setting(dict, at: keys[...], to: replacement)
        case .add(let fields, let condition):
            for field in fields {
                context["config"] = .dict(dict)
                let value = try field.value.evaluate(context)
                if let condition {
                    var scoped = context
                    scoped["value"] = value
                    scoped["path"] = .list(field.path.map(PyValue.string))
                    guard try condition.truth(scoped) else { continue }
                }
                dict = RequestParts.setting(dict, at: field.path[...], to: value)
            }
        case .remove(let pointers, let condition):
            if let condition, try !condition.truth(context) { return }
            for pointer in pointers { dict = Transformation.removing(pointer[...], from: dict) }
        }
    }

    private static func check(_ validation: Validation, context: ExpressionContext) throws {
        switch validation {
        case .dpath(let path, let schema, let manifestPath):
            // As the CDK: the path is evaluated without the config.
            let keys = try path.map { PyRepr.str(try $0.evaluate(ExpressionContext(variables: [:], now: context.now))) }
            guard case .dict(let config)? = context["config"] else { return }
            var values: [PyValue] = [.dict(config)]
            for key in keys {
                values = values.flatMap { value -> [PyValue] in
                    switch (key, value) {
                    case ("*", .dict(let dict)): dict.values
                    case ("*", .list(let items)): items
                    case (_, .dict(let dict)): dict[key].map { [$0] } ?? []
                    default: []
                    }
                }
            }
            for value in values { try Self.validate(value, against: schema, at: manifestPath) }
        case .predicate(let value, let parameters, let schema, let manifestPath):
            var resolved = value
            if case .string(let text) = value {
                let interpolation = try BoundInterpolation(interpolation: Interpolation(Template(text)), parameters: parameters,
                                                           path: manifestPath.appending("value"))
                resolved = try interpolation.evaluate(context)
            }
            try Self.validate(resolved, against: schema, at: manifestPath)
        }
    }

    private static func validate(_ value: PyValue, against schema: PyValue, at path: ManifestPath) throws {
        var instance = value
        if case .string(let text) = value {
            // As the CDK: a string is read as JSON first.
            guard let parsed = try? JSONBody.decode(Array(text.utf8), path: path) else {
                throw ManifestError(path, "the config does not pass this validation: a value is not valid JSON")
            }
            instance = parsed
        }
        // The problems are not quoted: a schema check can print the value it refused, and the
        // value may be a credential (these small schemas mark nothing airbyte_secret).
        let problems = ConfigValidator.problems(instance, schema: schema)
        if !problems.isEmpty {
            throw ManifestError(path, "the config does not pass this validation (\(problems.count) problem(s) with the value it checks)")
        }
    }
}
