/// The version `tributary version` prints and the server reports.
public enum TributaryVersion {
    public static let current = "0.1.0"
}
