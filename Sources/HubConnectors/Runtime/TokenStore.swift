/// The tokens one read has obtained (session tokens, OAuth access tokens), by authenticator.
/// It belongs to the read, never to the connector definition: definitions are shared by every
/// connection of a connector in the process, and a token is one account's credential.
actor TokenStore {
    private var tokens: [ObjectIdentifier: (token: String, expiresAt: PyDateTime?)] = [:]

    func token(for authenticator: ObjectIdentifier, now: PyDateTime, expiration: PyDuration?,
               fetch: @Sendable () async throws -> String) async throws -> String {
        if let cached = tokens[authenticator], cached.expiresAt.map({ now < $0 }) ?? true { return cached.token }
        let fresh = try await fetch()
        tokens[authenticator] = (fresh, expiration.map { now.adding($0) })
        return fresh
    }
}
