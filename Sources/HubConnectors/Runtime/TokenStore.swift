/// The tokens one read has obtained (session tokens, OAuth access tokens), by authenticator.
/// It belongs to the read, never to the connector definition: definitions are shared by every
/// connection of a connector in the process, and a token is one account's credential.
actor TokenStore {
    private var tokens: [ObjectIdentifier: (token: String, expiresAt: PyDateTime?)] = [:]
    /// A fetch under way: requests that need the token meanwhile wait for it rather than fetch
    /// their own (a single-use refresh token would not survive two refreshes at once).
    private var fetching: [ObjectIdentifier: Task<(token: String, expiresAt: PyDateTime?), any Error>] = [:]

    /// The authenticator's token, fetched again once `expiration` has passed since the last fetch.
    func token(for authenticator: ObjectIdentifier, now: PyDateTime, expiration: PyDuration?,
               fetch: @escaping @Sendable () async throws -> String) async throws -> String {
        try await token(for: authenticator, now: now) { (try await fetch(), try expiration.map { try now.adding($0) }) }
    }

    /// The authenticator's token, fetched again once the expiry the fetch reported has passed.
    func token(for authenticator: ObjectIdentifier, now: PyDateTime,
               fetch: @escaping @Sendable () async throws -> (token: String, expiresAt: PyDateTime?)) async throws -> String {
        if let cached = tokens[authenticator], cached.expiresAt.map({ now < $0 }) ?? true { return cached.token }
        if let pending = fetching[authenticator] { return try await pending.value.token }
        let task = Task { try await fetch() }
        fetching[authenticator] = task
        defer { fetching[authenticator] = nil }
        let fresh = try await task.value
        tokens[authenticator] = fresh
        return fresh.token
    }

    /// Drops the authenticator's token, so the next request fetches a new one.
    func invalidate(_ authenticator: ObjectIdentifier) {
        tokens[authenticator] = nil
    }
}
