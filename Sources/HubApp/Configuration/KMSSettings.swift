import Foundation

/// Where the key-encryption key lives when it is in AWS KMS (`TRIBUTARY_KMS_KEY_ID`): the key,
/// its region, and the endpoints to reach (AWS's own unless set, for VPC endpoints or a local
/// fake). The credentials are not settings of Tributary's: they come from the standard AWS
/// variables, read when the key is loaded (`MasterKey.load`).
public struct KMSSettings: Sendable, Equatable {
    public var keyID: String
    public var region: String
    public var endpoint: URL?
    public var stsEndpoint: URL?

    static let variables: [HubConfiguration.Variable] = [
        .init(name: "TRIBUTARY_KMS_KEY_ID", defaultValue: "(unset: the key-encryption key is local)",
              meaning: "AWS KMS key id, key ARN or alias (alias/NAME) that wraps tenant keys, instead of a local key"),
        .init(name: "TRIBUTARY_KMS_REGION", defaultValue: "(unset: AWS_REGION, else AWS_DEFAULT_REGION)",
              meaning: "The KMS key's region, e.g. eu-west-1"),
        .init(name: "TRIBUTARY_KMS_ENDPOINT", defaultValue: "(unset: https://kms.REGION.amazonaws.com/)",
              meaning: "Another KMS endpoint (a VPC endpoint); https, or http on this machine only"),
        .init(name: "TRIBUTARY_STS_ENDPOINT", defaultValue: "(unset: https://sts.REGION.amazonaws.com/)",
              meaning: "Another STS endpoint for web identity credentials; https, or http on this machine only"),
    ]

    /// The settings, or nil when no KMS key is named; each problem is appended to `problems`.
    static func parse(_ value: (String) -> String?, problems: inout [String]) -> KMSSettings? {
        guard let keyID = value("TRIBUTARY_KMS_KEY_ID") else {
            for name in ["TRIBUTARY_KMS_REGION", "TRIBUTARY_KMS_ENDPOINT", "TRIBUTARY_STS_ENDPOINT"] where value(name) != nil {
                problems.append("\(name) is set without TRIBUTARY_KMS_KEY_ID")
            }
            return nil
        }
        guard let region = value("TRIBUTARY_KMS_REGION") ?? value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") else {
            problems.append("TRIBUTARY_KMS_KEY_ID is set without a region: set TRIBUTARY_KMS_REGION (or AWS_REGION)")
            return nil
        }
        // Checked before anything is built from it: the default KMS and STS hosts are made of it,
        // and a region holding `/` or `.` would send credentials to another host.
        guard !region.isEmpty, region.count <= 64, region.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            problems.append("the KMS region '\(region)' is not a region name such as eu-west-1")
            return nil
        }
        func url(_ name: String) -> URL? {
            guard let raw = value(name) else { return nil }
            guard let url = URL(string: raw), url.scheme != nil, url.host != nil else {
                problems.append("\(name): '\(raw)' is not a URL such as https://kms.eu-west-1.amazonaws.com/")
                return nil
            }
            return url
        }
        return KMSSettings(keyID: keyID, region: region, endpoint: url("TRIBUTARY_KMS_ENDPOINT"), stsEndpoint: url("TRIBUTARY_STS_ENDPOINT"))
    }
}
