/// `SelectiveAuthenticator`: one of several authenticators, chosen by a value of the config
/// (`authenticator_selection_path`, e.g. `["credentials", "auth_type"]`), as a connector that
/// accepts an API key or OAuth declares it. The CDK chooses when it builds the source; the
/// manifest is parsed here before any config exists, so the choice is made per request, from
/// the same config, with the CDK's errors.
struct SelectiveAuthenticator: Sendable {
    let selectionPath: [String]
    let options: [String: Authenticator]
    let path: ManifestPath

    init(_ node: ComponentNode) throws {
        selectionPath = try node.stringList("authenticator_selection_path")
        guard !selectionPath.isEmpty else {
            throw ManifestError(node.path.appending("authenticator_selection_path"), "is required: the config path holding the authenticator's name")
        }
        guard case .dict(let entries)? = node.value("authenticators"), !entries.isEmpty else {
            throw ManifestError(node.path.appending("authenticators"), "is required: a mapping of names to authenticators")
        }
        var options: [String: Authenticator] = [:]
        for entry in entries.entries {
            let name = PyRepr.str(entry.key)
            let child = try ComponentNode(entry.value, path: node.path.appending("authenticators").appending(name))
            if case .selective = try Authenticator.make(child) {
                throw ManifestError(child.path, "a SelectiveAuthenticator cannot choose another SelectiveAuthenticator")
            }
            options[name] = try Authenticator.make(child)
        }
        self.options = options
        path = node.path
    }

    /// The authenticator the config names.
    func selected(_ context: ExpressionContext) throws -> Authenticator {
        var value = context["config"] ?? .none
        for key in selectionPath {
            guard case .dict(let dict) = value, let next = dict[key] else {
                throw ManifestError(path.appending("authenticator_selection_path"),
                                    "the path from `authenticator_selection_path` is not found in the config")
            }
            value = next
        }
        let name = PyRepr.str(value)
        guard let chosen = options[name] else {
            throw ManifestError(path.appending("authenticators"), "the authenticator `\(name)` is not found")
        }
        return chosen
    }
}
