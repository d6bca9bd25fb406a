import HubCore
import HubStore
import Testing

@Suite("Database URLs")
struct DatabaseURLTests {
    @Test func parsesEveryPart() throws {
        let url = try DatabaseURL(parsing: "postgresql://app%40x:p%2Fss@db.internal:6543/hub?sslmode=require")
        #expect(url.host == "db.internal")
        #expect(url.port == 6543)
        #expect(url.username == "app@x")
        #expect(url.password?.revealed == "p/ss")
        #expect(url.database == "hub")
        #expect(url.sslMode == .require)
    }

    @Test func defaultsPortAndSSLMode() throws {
        let url = try DatabaseURL(parsing: "postgres://u@localhost/db")
        #expect(url.port == 5432)
        #expect(url.sslMode == .prefer)
        #expect(url.password == nil)
    }

    @Test func descriptionNeverShowsThePassword() throws {
        let url = try DatabaseURL(parsing: "postgres://u:hunter2-MARKER@h:1/d?sslmode=disable")
        #expect(url.description == "postgres://u:<redacted>@h:1/d?sslmode=disable")
        #expect(!"\(url)".contains("MARKER"))
        let reparsed = try DatabaseURL(parsing: url.revealedString)
        #expect(reparsed.password?.revealed == "hunter2-MARKER")
    }

    @Test(arguments: [
        ("mysql://u:p@h/d", "scheme"), ("postgres://u:p@h", "database name"), ("postgres://h/d", "user name"),
        ("postgres://u:p@h/d?sslmode=maybe", "sslmode"), ("not a url at all", "scheme"),
    ])
    func errorsNameThePartAndHideThePassword(_ input: String, _ part: String) {
        let error = #expect(throws: HubError.self) { try DatabaseURL(parsing: input) }
        #expect(error?.message.contains(part) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(":p@") == false)
    }
}
