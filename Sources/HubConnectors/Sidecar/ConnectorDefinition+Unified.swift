import HubCore

/// The connector's mappings of its streams into unified models (`hub.yaml` `unified:`).
extension ConnectorDefinition {
    /// The models the connector's mappings name, sorted.
    public var mappedModels: [String] {
        Set(sidecar.streams.values.flatMap(\.unified.keys)).sorted()
    }

    /// Refuses mappings into models that are not registered or into fields a model lacks,
    /// naming each (`hub.yaml streams.contacts.unified.person.fullname: …`).
    public func checkMappings(against models: [String: UnifiedModel]) throws {
        var problems: [String] = []
        for (stream, policy) in sidecar.streams.sorted(by: { $0.key < $1.key }) {
            for (modelName, mapping) in policy.unified.sorted(by: { $0.key < $1.key }) {
                let place = "hub.yaml streams.\(stream).unified.\(modelName)"
                guard let model = models[modelName] else {
                    problems.append("\(place): no model named \(modelName) is registered (register it with `tributary models add`)")
                    continue
                }
                for field in mapping.fieldNames where !model.fields.contains(field) {
                    problems.append("\(place).\(field): model \(modelName) has no field \(PyRepr.string(field)) (it has \(model.fields.joined(separator: ", ")))")
                }
            }
        }
        if !problems.isEmpty {
            throw HubError(.invalidInput, "connector \(name):\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
    }

    /// A record of `stream` as `model`'s fields, or nil when the stream maps to no such model.
    /// An expression that fails names the connector, stream, field and expression.
    public func unifiedFields(stream: String, model: String, record: PyValue, config: PyValue,
                              now: PyDateTime = EngineEnvironment.systemNow()) throws -> PyDict? {
        guard let mapping = sidecar.streams[stream]?.unified[model] else { return nil }
        do {
            return try mapping.evaluate(record: record, config: config, now: now)
        } catch let error as ManifestError {
            throw HubError(.invalidInput, "connector \(name) hub.yaml \(error)")
        }
    }
}
