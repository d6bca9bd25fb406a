import Foundation

/// The config fields that decide where a connector's requests go: those its URLs interpolate.
///
/// A connection's stored credentials are write-only: nobody can read them back. They may only
/// be carried over to a config change that leaves these fields alone. Otherwise anyone allowed
/// to edit a connection could point its `base_url` at a host of their own, and the next sync
/// would send that host the credentials. The scan is deliberately conservative: a URL that
/// reads the config in a way it can't follow (a computed key, a value handed on through
/// `parameters` or a partition) makes more fields, or every field, count.
public enum RequestDestinations: Sendable, Equatable {
    /// Some URL reads the config in a way the scan can't follow: any change counts.
    case anyField
    /// Only these top-level fields count.
    case fields(Set<String>)

    /// Keys whose values name a request's host: an `HttpRequester`'s `url_base` and `path`
    /// (an absolute path replaces the base), the deprecated `url`, and OAuth's token endpoint.
    /// A paginator's `cursor_value` counts too: injected as a `RequestPath`, it is the next URL.
    /// A `LegacySessionTokenAuthenticator`'s `login_url` and `validate_session_url` are joined
    /// to the base as text, so they can move the host too.
    static let urlKeys: Set<String> = ["url_base", "url", "path", "token_refresh_endpoint", "cursor_value",
                                       "login_url", "validate_session_url"]

    /// Names an interpolation can take a URL's text from that may themselves come from the
    /// config: a component's `parameters`, a partition (`ListPartitionRouter` values), a dynamic
    /// stream's `components_values`. A URL that reads any of them makes every config field that
    /// the manifest mentions anywhere count.
    static let indirectNames = ["parameters", "stream_partition", "stream_slice", "stream_interval", "components_values"]

    /// Scans a resolved manifest (references and parameters applied).
    public init(manifest: PyValue) {
        // Config migrations and transformations (`spec.config_normalization_rules`) rewrite the
        // config before any URL reads it: a field the URLs read may then be computed from any
        // other (`base_url` added from `subdomain`). Every field counts.
        if case .dict(let root) = manifest, case .dict(let spec)? = root["spec"],
           case .dict(let rules)? = spec["config_normalization_rules"],
           [rules["config_migrations"], rules["transformations"]].contains(where: { if case .list(let steps)? = $0 { !steps.isEmpty } else { false } }) {
            self = .anyField
            return
        }
        var direct: [String] = []
        var everywhere: [String] = []
        Self.collect(manifest, key: nil, direct: &direct, everywhere: &everywhere)
        let indirect = direct.contains { text in
            Self.indirectNames.contains { text.range(of: "\\b\($0)\\b", options: .regularExpression) != nil }
        }
        var fields = Set<String>()
        for text in indirect ? everywhere : direct {
            guard let named = Self.configFields(in: text) else {
                self = .anyField
                return
            }
            fields.formUnion(named)
        }
        self = .fields(fields)
    }

    /// Which of the changed fields move requests elsewhere.
    public func affected(by changed: Set<String>) -> Set<String> {
        switch self {
        case .anyField: changed
        case .fields(let fields): changed.intersection(fields)
        }
    }

    private static func collect(_ value: PyValue, key: String?, direct: inout [String], everywhere: inout [String]) {
        switch value {
        case .string(let text):
            // Only an interpolation reads anything; plain text (a description) reads nothing.
            guard text.contains("{{") || text.contains("{%") else { return }
            everywhere.append(text)
            if let key, urlKeys.contains(key) { direct.append(text) }
        case .list(let items), .tuple(let items):
            for item in items { collect(item, key: key, direct: &direct, everywhere: &everywhere) }
        case .dict(let dict):
            for (name, item) in dict.entries {
                guard case .string(let name) = name else { continue }
                collect(item, key: name, direct: &direct, everywhere: &everywhere)
            }
        default:
            return
        }
    }

    /// The top-level fields a text reads from `config`, or nil when it reads the config in any
    /// other way (a computed key, the whole object, a filter over it).
    static func configFields(in text: String) -> Set<String>? {
        // Reads of one top-level field by a literal name; regex literals, checked when compiled,
        // with the simple word boundaries NSRegularExpression had.
        // Built per call: `Regex` is not Sendable, and this runs only when a config changes.
        let literalReads: [Regex<(Substring, Substring)>] = [
            #/\bconfig\s*\[\s*'([^'\\]*)'\s*\]/#,
            #/\bconfig\s*\[\s*"([^"\\]*)"\s*\]/#,
            // The literal must be the whole first argument: `config.get('a' ~ 'b')` reads no field `a`.
            #/\bconfig\s*\.\s*get\s*\(\s*'([^'\\]*)'\s*[,)]/#,
            #/\bconfig\s*\.\s*get\s*\(\s*"([^"\\]*)"\s*[,)]/#,
            // An attribute, not a method call (`config.items()` reads every field).
            #/\bconfig\s*\.\s*(?!get\b)([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()/#,
        ].map { $0.wordBoundaryKind(.simple) }
        var covered: [Range<String.Index>] = []
        var fields = Set<String>()
        for pattern in literalReads {
            for match in text.matches(of: pattern) {
                fields.insert(String(match.output.1))
                covered.append(match.range)
            }
        }
        // Simple (ASCII-style) word boundaries: Unicode's treat `config.items` as one word.
        for mention in text.matches(of: #/\bconfig\b/#.wordBoundaryKind(.simple)) where !covered.contains(where: { $0.contains(mention.range.lowerBound) }) {
            return nil
        }
        return fields
    }
}
