import HubCore

/// `hub.yaml`'s `webhooks:` section: how a provider signs its events, where the event's id,
/// type and record are, and which stream each event type updates.
///
/// ```yaml
/// webhooks:
///   signature:
///     scheme: stripe             # stripe (t=…,v1=…), github (sha256=…), or hmac
///     secret: webhook_secret     # the config field holding the signing secret (a credential)
///     tolerance: PT5M            # stripe: how old a signed timestamp may be
///     # hmac only: header, algorithm (sha256, sha1, sha512), encoding (hex, base64), prefix
///   event_id: id                 # dotted path in the payload, or {header: X-Event-Id}
///   event_type: type
///   account: account.id          # optional: routes the per-connector URL to a connection
///   max_body_bytes: 1048576
///   events:
///     contact.updated: {stream: contacts, record: data.object}
///     contact.deleted: {stream: contacts, record: data.object, delete: true}
/// ```
public struct WebhookPolicy: Sendable {
    public enum Scheme: String, Sendable, CaseIterable { case stripe, github, hmac }
    public enum Algorithm: String, Sendable, CaseIterable { case sha256, sha1, sha512 }
    public enum Encoding: String, Sendable, CaseIterable { case hex, base64 }

    public struct Signature: Sendable {
        public var scheme: Scheme
        public var secretField: String
        public var header: String
        public var algorithm: Algorithm = .sha256
        public var encoding: Encoding = .hex
        /// Text before the MAC in the header (GitHub's `sha256=`).
        public var prefix: String = ""
        public var toleranceSeconds: Int = 300
    }

    public enum EventID: Sendable, Equatable {
        case payload([String])
        case header(String)
    }

    public struct Route: Sendable {
        public var stream: String
        public var recordPath: [String]
        public var delete: Bool
    }

    public var signature: Signature
    public var eventID: EventID
    public var eventType: [String]
    public var accountPath: [String]?
    public var maxBodyBytes: Int = 1 << 20
    public var events: [String: Route] = [:]

    static let keys = ["signature", "event_id", "event_type", "account", "max_body_bytes", "events"]

    init(_ node: ComponentNode, problems: inout [ManifestError]) throws {
        for key in node.fields.keys.map(PyRepr.str) where !Self.keys.contains(key) {
            problems.append(ManifestError(node.path.appending(key), "unknown setting; expected " + Self.keys.joined(separator: ", ")))
        }
        let signatureNode = try node.requiredChild("signature")
        let schemeName = try signatureNode.requiredString("scheme")
        guard let scheme = Scheme(rawValue: schemeName) else {
            throw ManifestError(signatureNode.path.appending("scheme"),
                                "unknown scheme \(PyRepr.string(schemeName)); expected stripe, github or hmac")
        }
        let secret = try signatureNode.requiredString("secret")
        let defaultHeader: String? = switch scheme {
        case .stripe: "Stripe-Signature"
        case .github: "X-Hub-Signature-256"
        case .hmac: nil
        }
        guard let header = try signatureNode.string("header") ?? defaultHeader else {
            throw ManifestError(signatureNode.path.appending("header"), "is required for the hmac scheme (the header carrying the signature)")
        }
        signature = Signature(scheme: scheme, secretField: secret, header: header)
        if scheme == .github { signature.prefix = "sha256=" }
        if let name = try signatureNode.string("algorithm") {
            guard let algorithm = Algorithm(rawValue: name) else {
                throw ManifestError(signatureNode.path.appending("algorithm"), "expected sha256, sha1 or sha512, found \(PyRepr.string(name))")
            }
            signature.algorithm = algorithm
        }
        if let name = try signatureNode.string("encoding") {
            guard let encoding = Encoding(rawValue: name) else {
                throw ManifestError(signatureNode.path.appending("encoding"), "expected hex or base64, found \(PyRepr.string(name))")
            }
            signature.encoding = encoding
        }
        if let prefix = try signatureNode.string("prefix") { signature.prefix = prefix }
        if let tolerance = try signatureNode.string("tolerance") {
            do {
                let duration = try ISO8601.parseDuration(tolerance)
                signature.toleranceSeconds = Int(duration.micros / 1_000_000)
            } catch {
                problems.append(ManifestError(signatureNode.path.appending("tolerance"),
                                              "expected an ISO 8601 duration such as PT5M, found \(PyRepr.string(tolerance))"))
            }
        }
        switch node.value("event_id") {
        case .string(let path)?: eventID = .payload(Self.path(path))
        case .dict(let dict)?:
            guard case .string(let header)? = dict["header"] else {
                throw ManifestError(node.path.appending("event_id"), "expected a payload path or {header: NAME}")
            }
            eventID = .header(header)
        default:
            throw ManifestError(node.path.appending("event_id"), "is required: the payload path (or {header: NAME}) of the provider's event id, for replay protection")
        }
        eventType = Self.path(try node.requiredString("event_type"))
        accountPath = try node.string("account").map(Self.path)
        if let limit = try node.int("max_body_bytes") {
            if limit < 1024 { problems.append(ManifestError(node.path.appending("max_body_bytes"), "must be at least 1024")) }
            maxBodyBytes = limit
        }
        guard case .dict(let routes)? = node.value("events") else {
            throw ManifestError(node.path.appending("events"), "is required: a mapping of event type to {stream, record, delete}")
        }
        for (key, value) in routes.entries {
            let type = PyRepr.str(key)
            let routeNode = try ComponentNode(value, path: node.path.appending("events").appending(type))
            for field in routeNode.fields.keys.map(PyRepr.str) where !["stream", "record", "delete"].contains(field) {
                problems.append(ManifestError(routeNode.path.appending(field), "unknown setting; expected stream, record or delete"))
            }
            events[type] = Route(stream: try routeNode.requiredString("stream"),
                                 recordPath: Self.path(try routeNode.string("record") ?? ""),
                                 delete: try routeNode.bool("delete", default: false))
        }
    }

    static func path(_ dotted: String) -> [String] {
        dotted.split(separator: ".").map(String.init)
    }
}
