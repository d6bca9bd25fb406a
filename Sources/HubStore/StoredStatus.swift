import HubCore

/// A status column's values as a Swift enum: what a row holds is read through `stored(_:in:)`,
/// so a value this binary does not know is an error that names the row, never a silent default.
public protocol StoredStatus: RawRepresentable<String>, CaseIterable {}

extension StoredStatus {
    /// The status a row holds; `row` names the row for the error.
    static func stored(_ text: String, in row: @autoclosure () -> String) throws -> Self {
        guard let status = Self(rawValue: text) else {
            let known = allCases.map(\.rawValue).joined(separator: ", ")
            throw HubError(.storedDataInvalid, "\(row()) has status \(text), which is none of \(known)")
        }
        return status
    }

    /// The values as a list for messages: "active or paused".
    public static func described(_ values: [Self]) -> String {
        let names = values.map(\.rawValue)
        guard let last = names.last else { return "" }
        return names.count == 1 ? last : names.dropLast().joined(separator: ", ") + " or " + last
    }
}
