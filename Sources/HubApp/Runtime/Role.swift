/// The roles of the one `tributary` binary; each scales on its own in production.
public enum Role: String, CaseIterable, Sendable, Comparable {
    case api, worker, scheduler

    /// The roles this build can run.
    public static let available: [Role] = [.api, .worker, .scheduler]

    public static func < (lhs: Role, rhs: Role) -> Bool {
        (allCases.firstIndex(of: lhs) ?? 0) < (allCases.firstIndex(of: rhs) ?? 0)
    }
}
