import HubCrypto

/// `hub.yaml`: what Tributary needs to know about a connector that Airbyte has no word for —
/// which fields are sensitive and which are searchable, keys, schedule, and limits.
///
/// ```yaml
/// schedule: PT1H                 # default sync interval (ISO 8601 duration)
/// account_concurrency: 2         # syncs at once per third-party account, across all workers
/// credentials: [api_key]         # config fields stored encrypted (spec airbyte_secret fields too)
/// follow_redirects: false        # follow 3xx (each hop checked by the egress policy); default off
/// streams:
///   contacts:
///     primary_key: [id]          # when the manifest has none, or to override it
///     cursor_field: updated_at
///     sensitive: [email, phone]  # sealed with the tenant's key
///     blind_index:               # equality lookup without decryption
///       email: lowercase_trim
///       phone: digits
///     unified:                   # the stream's records as unified models (models/*.yaml)
///       person:
///         email: "{{ record.email }}"
///         full_name: "{{ record.first_name ~ ' ' ~ record.last_name }}"
/// webhooks: …                    # see WebhookPolicy
/// runtime: …                     # see ProcessRuntime: an Airbyte source run as a process
/// ```
public struct ConnectorSidecar: Sendable {
    public struct StreamPolicy: Sendable {
        public var primaryKey: [[String]]?
        public var cursorField: String?
        public var sensitive: [String] = []
        public var blindIndexes: [BlindIndexField] = []
        /// Model name to the mapping of this stream's records into it.
        public var unified: [String: UnifiedMapping] = [:]
    }

    public var schedule: PyDuration?
    public var accountConcurrency: Int?
    public var credentialFields: [String] = []
    /// Off by default: a redirect is a third party choosing where the next request goes.
    public var followRedirects = false
    public var streams: [String: StreamPolicy] = [:]
    public var webhooks: WebhookPolicy?
    /// Set for a connector that runs as a process (no manifest).
    public var runtime: ProcessRuntime?

    public init() {}

    public init(yaml: String, source: String = "hub.yaml") throws {
        let document = try YAMLDocument.load(yaml, source: source)
        if document == .none { self.init(); return }
        let root = try ComponentNode(document, path: .root)
        var problems: [ManifestError] = []
        let settings = ["schedule", "account_concurrency", "credentials", "follow_redirects", "streams", "webhooks", "runtime"]
        for key in root.fields.keys.map(PyRepr.str) where !settings.contains(key) {
            problems.append(ManifestError(.root.appending(key), "unknown setting; expected one of " + settings.joined(separator: ", ")))
        }
        self.init()
        followRedirects = try root.bool("follow_redirects", default: false)
        if let text = try root.string("schedule") {
            do {
                let parsed = try ISO8601.parseDuration(text)
                if parsed.months == 0 && parsed.micros < 60_000_000 {
                    problems.append(ManifestError(.root.appending("schedule"), "must be at least one minute (PT1M)"))
                }
                schedule = parsed
            } catch {
                problems.append(ManifestError(.root.appending("schedule"), "expected an ISO 8601 duration such as PT1H, found \(PyRepr.string(text))"))
            }
        }
        if let limit = try root.int("account_concurrency") {
            if limit < 1 { problems.append(ManifestError(.root.appending("account_concurrency"), "must be at least 1")) }
            accountConcurrency = limit
        }
        credentialFields = try root.stringList("credentials")
        do {
            runtime = try root.child("runtime").map(ProcessRuntime.init)
        } catch let error as ManifestError {
            problems.append(error)
        }
        if let streamsValue = root.value("streams") {
            guard case .dict(let dict) = streamsValue else {
                throw ManifestError(.root.appending("streams"), "expected a mapping of stream name to settings")
            }
            for (key, value) in dict.entries {
                let name = PyRepr.str(key)
                let node = try ComponentNode(value == .none ? .dict(PyDict()) : value, path: .root.appending("streams").appending(name))
                var policy = StreamPolicy()
                for field in node.fields.keys.map(PyRepr.str)
                where !["primary_key", "cursor_field", "sensitive", "blind_index", "unified"].contains(field) {
                    problems.append(ManifestError(node.path.appending(field), "unknown setting; expected primary_key, cursor_field, sensitive, blind_index or unified"))
                }
                switch node.value("unified") {
                case nil: break
                case .dict(let models)?:
                    for (modelKey, fields) in models.entries {
                        let model = PyRepr.str(modelKey)
                        let path = node.path.appending("unified").appending(model)
                        guard UnifiedModel.isValidName(model) else {
                            problems.append(ManifestError(path, "is not a model name (lower-case letters, digits, _ and -)"))
                            continue
                        }
                        do {
                            policy.unified[model] = try UnifiedMapping(try ComponentNode(fields, path: path), problems: &problems)
                        } catch let error as ManifestError {
                            problems.append(error)
                        }
                    }
                case let other?:
                    problems.append(ManifestError(node.path.appending("unified"), "expected a mapping of model name to field expressions, found \(other.typeName)"))
                }
                switch node.value("primary_key") {
                case .string(let single)?: policy.primaryKey = [[single]]
                case .list(let items)?: policy.primaryKey = items.map { item in
                    if case .list(let parts) = item { return parts.map(PyRepr.str) }
                    return [PyRepr.str(item)]
                }
                case nil: break
                case let other?: problems.append(ManifestError(node.path.appending("primary_key"), "expected a field name or a list, found \(other.typeName)"))
                }
                policy.cursorField = try node.string("cursor_field")
                policy.sensitive = try node.stringList("sensitive")
                if let indexValue = node.value("blind_index") {
                    guard case .dict(let indexes) = indexValue else {
                        throw ManifestError(node.path.appending("blind_index"), "expected a mapping of field name to normalizer")
                    }
                    for (field, normalizerValue) in indexes.entries {
                        let fieldName = PyRepr.str(field)
                        let normalizerName = PyRepr.str(normalizerValue)
                        guard let normalizer = BlindIndexNormalizer(rawValue: normalizerName) else {
                            problems.append(ManifestError(node.path.appending("blind_index").appending(fieldName),
                                                          "unknown normalizer \(PyRepr.string(normalizerName)); expected one of "
                                                              + BlindIndexNormalizer.allCases.map(\.rawValue).joined(separator: ", ")))
                            continue
                        }
                        policy.blindIndexes.append(BlindIndexField(name: fieldName, normalizer: normalizer))
                    }
                }
                streams[name] = policy
            }
        }
        if let node = try root.child("webhooks") {
            webhooks = try WebhookPolicy(node, problems: &problems)
        }
        if !problems.isEmpty { throw ManifestProblems(problems: problems, subject: "hub.yaml") }
    }
}
