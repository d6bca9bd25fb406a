@testable import HubAPI
import HubCore
import Testing

@Suite("Problem responses")
struct ProblemTests {
    /// Every code maps to a status of its own choosing: a request's fault is a 4xx naming the
    /// code and saying what was wrong; the server's own faults are a 500 that tells nothing.
    @Test(arguments: HubError.Code.allCases)
    func everyCodeHasADeliberateAnswer(_ code: HubError.Code) {
        let message = "secret detail about row 42"
        let problem = Problem(HubError(code, message))
        let status = problem.statusCode
        if status == 500 {
            #expect(problem.code == .internalError)
            #expect(!problem.detail.contains(message), "a server fault's detail must not reach the client")
        } else {
            #expect(problem.code == code)
            #expect((400..<600).contains(status))
        }
    }

    @Test func clientFaultsAndOutagesKeepTheirStatus() {
        #expect(Problem(HubError(.notFound, "x")).statusCode == 404)
        #expect(Problem(HubError(.invalidInput, "x")).statusCode == 400)
        #expect(Problem(HubError(.conflict, "x")).statusCode == 409)
        #expect(Problem(HubError(.forbidden, "x")).statusCode == 403)
        let unavailable = Problem(HubError(.databaseUnavailable, "x"))
        #expect(unavailable.statusCode == 503)
        #expect(unavailable.headers.contains { $0.0 == "Retry-After" })
        #expect(Problem(HubError(.storedDataInvalid, "x")).statusCode == 500)
    }
}
