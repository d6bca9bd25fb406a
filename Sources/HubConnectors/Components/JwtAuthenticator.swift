import Crypto
import CryptoExtras
import Foundation

/// `JwtAuthenticator`: a JSON Web Token signed for every request, as the CDK builds it with
/// PyJWT: a header of `alg`, `typ` (JWT unless `jwt_headers` says otherwise), `kid` and `cty`
/// plus `additional_jwt_headers`, its keys sorted; a payload of `additional_jwt_payload` then
/// `iss`, `sub`, `aud`, `iat`, `exp` (`iat` plus `token_duration`, 1,200 s by default) and
/// `nbf`, in that order; both as compact JSON, base64url without padding. The token goes in
/// `request_option` (the `Authorization` header by default), after `header_prefix` and a space.
///
/// HMAC (HS*), RSA (RS*, PS*), ECDSA on P-256, P-384 and P-521 (ES256/384/512) and Ed25519
/// (EdDSA) are signed with swift-crypto; ES256K (secp256k1) is refused when the manifest is
/// read, since swift-crypto has no such curve, as is a passphrase-protected key, which it
/// cannot open.
struct JwtAuthenticator: Sendable {
    enum Algorithm: String, Sendable, CaseIterable {
        case hs256 = "HS256", hs384 = "HS384", hs512 = "HS512"
        case rs256 = "RS256", rs384 = "RS384", rs512 = "RS512"
        case ps256 = "PS256", ps384 = "PS384", ps512 = "PS512"
        case es256 = "ES256", es384 = "ES384", es512 = "ES512"
        case edDSA = "EdDSA"
    }

    let algorithm: Algorithm
    let secretKey: BoundInterpolation
    /// A literal `true`/`false`, or an interpolation read as the CDK's `InterpolatedBoolean`.
    let base64EncodeSecretKey: BoundInterpolation?
    let base64EncodeSecretKeyLiteral: Bool
    let tokenDuration: Int
    let headerPrefix: BoundInterpolation?
    let kid: BoundInterpolation?
    let typ: BoundInterpolation?
    let cty: BoundInterpolation?
    let iss: BoundInterpolation?
    let sub: BoundInterpolation?
    let aud: BoundInterpolation?
    let additionalHeaders: InterpolatedMapping?
    let additionalPayload: InterpolatedMapping?
    let option: RequestOption
    let path: ManifestPath

    init(_ node: ComponentNode) throws {
        path = node.path
        let name = try node.requiredString("algorithm")
        if name == "ES256K" {
            throw ManifestError(node.path.appending("algorithm"), "ES256K (secp256k1) is not supported: swift-crypto has no such curve")
        }
        guard let algorithm = Algorithm(rawValue: name) else {
            throw ManifestError(node.path.appending("algorithm"),
                                "expected one of \(Algorithm.allCases.map(\.rawValue).joined(separator: ", ")), found \(PyRepr.string(name))")
        }
        self.algorithm = algorithm
        guard let secretKey = try node.interpolation("secret_key") else { throw ManifestError(node.path.appending("secret_key"), "is required") }
        self.secretKey = secretKey
        if case .string? = node.value("base64_encode_secret_key") {
            base64EncodeSecretKey = try node.interpolation("base64_encode_secret_key")
            base64EncodeSecretKeyLiteral = false
        } else {
            base64EncodeSecretKey = nil
            base64EncodeSecretKeyLiteral = try node.bool("base64_encode_secret_key", default: false)
        }
        tokenDuration = try node.int("token_duration") ?? 1200
        guard (0...31_536_000).contains(tokenDuration) else {
            throw ManifestError(node.path.appending("token_duration"), "must be between 0 and 31536000 seconds (a year), found \(tokenDuration)")
        }
        if try node.string("passphrase").map({ !$0.isEmpty }) == true {
            throw ManifestError(node.path.appending("passphrase"),
                                "is not supported: swift-crypto cannot open an encrypted private key; store the key unencrypted in the connection's credentials")
        }
        headerPrefix = try node.string("header_prefix").flatMap { $0.isEmpty ? nil : try node.bind($0, key: "header_prefix") }
        // As the CDK: an empty string is no value at all (an empty `typ` leaves PyJWT's JWT).
        func written(_ node: ComponentNode?, _ key: String) throws -> BoundInterpolation? {
            guard let node, let text = try node.string(key), !text.isEmpty else { return nil }
            return try node.bind(text, key: key)
        }
        let headers = try node.child("jwt_headers")
        kid = try written(headers, "kid")
        typ = try written(headers, "typ")
        cty = try written(headers, "cty")
        let payload = try node.child("jwt_payload")
        iss = try written(payload, "iss")
        sub = try written(payload, "sub")
        aud = try written(payload, "aud")
        additionalHeaders = try node.interpolatedMapping("additional_jwt_headers")
        additionalPayload = try node.interpolatedMapping("additional_jwt_payload")
        if let request = try node.child("request_option") {
            option = try RequestOption(request)
        } else {
            option = try RequestOption(ComponentNode(.dict({
                var d = PyDict(); d["inject_into"] = .string("header"); d["field_name"] = .string("Authorization")
                return d
            }()), path: node.path))
        }
    }

    func apply(to request: inout RequestParts, context: ExpressionContext, now: PyDateTime) throws {
        var token = try signedToken(context: context, now: now)
        if let prefix = try headerPrefix?.text(context), !prefix.isEmpty { token = prefix + " " + token }
        try option.inject(.string(token), into: &request, context: context)
    }

    /// The token for `now` (whole seconds, as the CDK's `int(datetime.now().timestamp())`).
    func signedToken(context: ExpressionContext, now: PyDateTime) throws -> String {
        let issuedAt = Int(now.epochMicros / 1_000_000)
        var header = try mapping(additionalHeaders, context: context)
        if let reserved = ["kid", "alg", "typ", "cty"].first(where: { header[.string($0)] != nil }) {
            throw ManifestError(path.appending("additional_jwt_headers"),
                                "'\(reserved)' is a reserved header: set it with jwt_headers or algorithm, not additional_jwt_headers")
        }
        for (key, value) in [("kid", kid), ("typ", typ), ("cty", cty)] {
            if let value { header[.string(key)] = try value.evaluate(context) }
        }
        header[.string("alg")] = .string(algorithm.rawValue)
        // PyJWT starts from `typ: JWT`, lets these headers replace it, and drops a falsy one.
        if header[.string("typ")] == nil { header[.string("typ")] = .string("JWT") }
        if let typ = header[.string("typ")], !typ.isTruthy { header[.string("typ")] = nil }
        var claims = try mapping(additionalPayload, context: context)
        if let reserved = ["iss", "sub", "aud", "iat", "exp", "nbf"].first(where: { claims[.string($0)] != nil }) {
            throw ManifestError(path.appending("additional_jwt_payload"),
                                "'\(reserved)' is a reserved claim: set it with jwt_payload or token_duration, not additional_jwt_payload")
        }
        for (key, value) in [("iss", iss), ("sub", sub), ("aud", aud)] {
            if let value { claims[.string(key)] = try value.evaluate(context) }
        }
        if let issuer = claims[.string("iss")] {
            guard case .string = issuer else { throw ManifestError(path.appending("jwt_payload").appending("iss"), "the issuer must be a string") }
        }
        claims[.string("iat")] = .int(issuedAt)
        claims[.string("exp")] = .int(issuedAt + tokenDuration)
        claims[.string("nbf")] = .int(issuedAt)
        let signingInput: String
        do {
            signingInput = Self.base64URL(Array(try PyRepr.jsonDumps(.dict(header), compact: true, sortKeys: true).utf8)) + "."
                + Self.base64URL(Array(try PyRepr.jsonDumps(.dict(claims), compact: true).utf8))
        } catch let error as ExpressionError {
            throw ManifestError(path, "the JWT cannot be written as JSON: \(error.message)")
        }
        let signature = try sign(Array(signingInput.utf8), key: try secret(context))
        return signingInput + "." + Self.base64URL(signature)
    }

    private func mapping(_ mapping: InterpolatedMapping?, context: ExpressionContext) throws -> PyDict {
        guard let mapping else { return PyDict() }
        if mapping.template != nil { return try mapping.evaluate(context) }
        // The CDK's InterpolatedMapping keeps a value that renders to None (written as null).
        var result = PyDict()
        for (key, raw, value) in mapping.entries {
            result[.string(PyRepr.str(try key.evaluate(context)))] = try value.map { try $0.evaluate(context) } ?? raw
        }
        return result
    }

    private func secret(_ context: ExpressionContext) throws -> String {
        let text = try secretKey.text(context) ?? ""
        let encode = try base64EncodeSecretKey?.truth(context) ?? base64EncodeSecretKeyLiteral
        // As the CDK: the secret's base64 text is the key (not the bytes it decodes to).
        return encode ? Data(text.utf8).base64EncodedString() : text
    }

    private func sign(_ input: [UInt8], key: String) throws -> [UInt8] {
        // The key never appears in an error: only what kind of key was expected.
        func failure(_ what: String) -> ManifestError {
            ManifestError(path.appending("secret_key"), "\(algorithm.rawValue) needs \(what)")
        }
        switch algorithm {
        case .hs256, .hs384, .hs512:
            let bytes = Array(key.utf8)
            guard !bytes.isEmpty else { throw failure("a non-empty HMAC secret") }
            guard !key.hasPrefix("-----BEGIN") else { throw failure("an HMAC secret, not a PEM key") }
            let symmetric = SymmetricKey(data: bytes)
            switch algorithm {
            case .hs384: return Array(HMAC<SHA384>.authenticationCode(for: input, using: symmetric))
            case .hs512: return Array(HMAC<SHA512>.authenticationCode(for: input, using: symmetric))
            default: return Array(HMAC<SHA256>.authenticationCode(for: input, using: symmetric))
            }
        case .rs256, .rs384, .rs512, .ps256, .ps384, .ps512:
            guard let rsa = try? _RSA.Signing.PrivateKey(pemRepresentation: key) else {
                throw failure("an RSA private key of at least 2048 bits in PEM")
            }
            let padding: _RSA.Signing.Padding = [.ps256, .ps384, .ps512].contains(algorithm) ? .PSS : .insecurePKCS1v1_5
            switch algorithm {
            case .rs384, .ps384: return Array(try rsa.signature(for: SHA384.hash(data: input), padding: padding).rawRepresentation)
            case .rs512, .ps512: return Array(try rsa.signature(for: SHA512.hash(data: input), padding: padding).rawRepresentation)
            default: return Array(try rsa.signature(for: SHA256.hash(data: input), padding: padding).rawRepresentation)
            }
        case .es256:
            guard let ec = try? P256.Signing.PrivateKey(pemRepresentation: key) else { throw failure("a P-256 private key in PEM") }
            return Array(try ec.signature(for: input).rawRepresentation)
        case .es384:
            guard let ec = try? P384.Signing.PrivateKey(pemRepresentation: key) else { throw failure("a P-384 private key in PEM") }
            return Array(try ec.signature(for: input).rawRepresentation)
        case .es512:
            guard let ec = try? P521.Signing.PrivateKey(pemRepresentation: key) else { throw failure("a P-521 private key in PEM") }
            return Array(try ec.signature(for: input).rawRepresentation)
        case .edDSA:
            guard let ed = try? Curve25519.Signing.PrivateKey(pemRepresentation: key) else { throw failure("an Ed25519 private key in PEM") }
            return Array(try ed.signature(for: input))
        }
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
