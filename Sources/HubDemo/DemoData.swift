import Foundation
import HubCore

/// The sample APIs' data: generated from a fixed seed, so every run and every machine sees
/// the same people, companies, customers and invoices, and the demo's test can compute what
/// the summary must say. Round `r` of changes (one per demo run) touches a few contacts.
public struct DemoData: Sendable {
    public static let contactCount = 400
    public static let companyCount = 40
    public static let customerCount = 120
    /// Billing customers 1…sharedCustomers are CRM contacts too (every 5th), same email in another spelling.
    public static let sharedCustomers = 60
    public static let changesPerRound = 3

    public var contacts: [[String: JSONValue]]
    public var companies: [[String: JSONValue]]
    public var customers: [[String: JSONValue]]
    public var invoices: [String: [[String: JSONValue]]]

    static let firstNames = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken",
                             "Radia", "Dennis", "Hedy", "Tim", "Karen", "Niklaus", "Shafi", "Leslie", "Sophie", "Linus"]
    static let lastNames = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "McCarthy", "Hamilton",
                            "Thompson", "Perlman", "Ritchie", "Lamarr", "Berners-Lee", "Jones", "Wirth", "Goldwasser",
                            "Lamport", "Wilson", "Torvalds"]
    static let titles = ["Engineer", "Designer", "Analyst", "Product Manager", "Founder", "Researcher", "Consultant", "Director"]
    static let industries = ["Software", "Retail", "Finance", "Health", "Logistics", "Media", "Energy", "Education"]

    /// 2026-01-01T00:00:00Z.
    static let epoch = 1_767_225_600

    /// The data as it stands after `rounds` rounds of changes.
    public init(rounds: Int = 0) {
        var random = SplitMix64(seed: 0x7472_6962_7574_6172)
        contacts = (1...Self.contactCount).map { index in
            let first = Self.firstNames[random.next(Self.firstNames.count)]
            let last = Self.lastNames[random.next(Self.lastNames.count)]
            return [
                "id": .string(Self.contactID(index)),
                "first_name": .string(first), "last_name": .string(last),
                "email": .string("\(first).\(last)\(index)@example.com".lowercased().replacingOccurrences(of: "-", with: "")),
                "phone": .string("+1 555 \(String(100 + random.next(900))) \(String(1000 + random.next(9000)))"),
                "title": .string(Self.titles[random.next(Self.titles.count)]),
                "company_id": .string(Self.companyID(index % Self.companyCount + 1)),
                "updated_at": .string(Self.timestamp(Self.epoch + index * 997)),
            ]
        }
        companies = (1...Self.companyCount).map { index in
            [
                "id": .string(Self.companyID(index)),
                "name": .string("\(Self.lastNames[index % Self.lastNames.count]) \(["Labs", "Systems", "Works", "Group"][index % 4])"),
                "industry": .string(Self.industries[random.next(Self.industries.count)]),
                "employees": .number(Double(10 + random.next(5000))),
                "updated_at": .string(Self.timestamp(Self.epoch + index * 3571)),
            ]
        }
        var customers: [[String: JSONValue]] = []
        var invoices: [String: [[String: JSONValue]]] = [:]
        var invoiceNumber = 0
        for index in 1...Self.customerCount {
            let id = "cus_\(String(format: "%04d", index))"
            let name: String, email: String, phone: String
            if index <= Self.sharedCustomers {
                // The same person as CRM contact 5·index: billing keeps the email as they typed it.
                let contact = contacts[index * 5 - 1]
                name = "\(contact["first_name"]!.stringValue!) \(contact["last_name"]!.stringValue!)"
                let typed = contact["email"]!.stringValue!
                email = index % 2 == 0 ? " \(typed.prefix(1).uppercased())\(typed.dropFirst()) " : typed.uppercased()
                phone = contact["phone"]!.stringValue!
            } else {
                let first = Self.firstNames[random.next(Self.firstNames.count)]
                let last = Self.lastNames[random.next(Self.lastNames.count)]
                name = "\(first) \(last)"
                email = "\(first).\(last).billing\(index)@example.org".lowercased()
                phone = "+44 20 \(String(1000 + random.next(9000))) \(String(1000 + random.next(9000)))"
            }
            customers.append([
                "id": .string(id), "name": .string(name), "email": .string(email), "phone": .string(phone),
                "currency": .string(["usd", "eur", "gbp"][index % 3]),
                "updated_at": .number(Double(Self.epoch + index * 2003)),
            ])
            invoices[id] = (0..<(index % 4)).map { n in
                invoiceNumber += 1
                return [
                    "id": .string("in_\(String(format: "%05d", invoiceNumber))"), "customer": .string(id),
                    "amount_due": .number(Double(500 + random.next(50_000))),
                    "status": .string(["paid", "open", "paid", "void"][(index + n) % 4]),
                    "created": .number(Double(Self.epoch + index * 2003 + n * 86_400)),
                ]
            }
        }
        self.customers = customers
        self.invoices = invoices
        for round in stride(from: 1, through: rounds, by: 1) { _ = applyChanges(round: round) }
    }

    public static var invoiceCount: Int { (1...customerCount).reduce(0) { $0 + $1 % 4 } }

    static func contactID(_ index: Int) -> String { "ct_\(String(format: "%04d", index))" }
    static func companyID(_ index: Int) -> String { "co_\(String(format: "%03d", index))" }

    static func timestamp(_ seconds: Int) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// The contacts round `round` changes (distinct, spread over the list).
    public static func changedContacts(round: Int) -> [Int] {
        (0..<changesPerRound).map { k in (round * 37 + k * 131) % contactCount + 1 }
    }

    /// Applies round `round`'s changes — a new title and a newer `updated_at` — and returns the
    /// changed contacts, as a webhook would carry them.
    public mutating func applyChanges(round: Int) -> [[String: JSONValue]] {
        Self.changedContacts(round: round).enumerated().map { k, index in
            var contact = contacts[index - 1]
            let old = contact["title"]?.stringValue ?? ""
            contact["title"] = .string(old.hasPrefix("Senior ") ? "Head of \(old.dropFirst(7))" : "Senior \(old)")
            // Changes land in June 2026 and later, after every seeded timestamp.
            contact["updated_at"] = .string(Self.timestamp(Self.epoch + 151 * 86_400 + round * 86_400 + k * 60))
            contacts[index - 1] = contact
            return contact
        }
    }
}
