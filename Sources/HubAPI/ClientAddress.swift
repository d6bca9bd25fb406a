import Foundation
import HubConnectors

/// Who is calling, as an address: the TCP peer, or — when the peer is one of the operator's
/// trusted proxies (`TRIBUTARY_TRUSTED_PROXIES`) — the nearest untrusted address in
/// `X-Forwarded-For`. A client cannot choose it: from an untrusted peer the header is ignored,
/// and through trusted proxies only the entries they appended are believed.
enum ClientAddress {
    static func resolve(peer: String?, forwardedFor: String?, trusted: [IPRange]) -> String? {
        guard let peer else { return nil }
        func isTrusted(_ text: String) -> Bool {
            guard let bytes = IPRange.parseAddress(text) else { return false }
            return trusted.contains { $0.contains(bytes) }
        }
        guard isTrusted(peer), let forwardedFor else { return peer }
        // Right to left: each proxy appends the address it received from.
        for entry in forwardedFor.split(separator: ",").reversed() {
            let address = entry.trimmingCharacters(in: .whitespaces)
            guard IPRange.parseAddress(address) != nil else { return peer }
            if !isTrusted(address) { return address }
        }
        return peer
    }
}
