import HubCore
import HubDatabase
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

    /// Without sslmode, a database across a network is verified: `prefer` would send the
    /// password to whoever answers TLS first, certificate or not.
    @Test func remoteHostsVerifyByDefault() throws {
        for local in ["postgres://u@127.0.0.1/db", "postgres://u@[::1]/db", "postgres://u@localhost/db", "postgres://u@/db?host=/var/run/postgresql"] {
            #expect(try DatabaseURL(parsing: local).sslMode == .prefer, "\(local)")
        }
        let remote = try DatabaseURL(parsing: "postgres://u:p@hub.cluster-abc.eu-west-1.rds.amazonaws.com/db?sslrootcert=/etc/ssl/rds.pem")
        #expect(remote.sslMode == .verifyFull)
        #expect(remote.rootCertificates == "/etc/ssl/rds.pem")
        #expect(remote.revealedString.contains("sslrootcert=/etc/ssl/rds.pem"))
        #expect(try DatabaseURL(parsing: "postgres://u@10.0.0.7/db").sslMode == .verifyFull)
        #expect(try DatabaseURL(parsing: "postgres://u@db.internal/db?sslmode=require").sslMode == .require)
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
