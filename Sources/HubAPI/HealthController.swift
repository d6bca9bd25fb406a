import Foundation
import HubCore
import HubStore
import Hummingbird

/// `/healthz` (the process is alive) and `/readyz` (it can do its job: database reachable,
/// schema current). Load balancers route on the second.
struct HealthController: Sendable {
    let readiness: DatabaseReadiness

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/healthz") { _, _ in
            JSONBody(["status": "ok"])
        }
        router.get("/readyz") { _, _ in
            // A database that hangs must not hang the probe: answer within 2 seconds either way.
            let result = await withTaskGroup(of: DatabaseReadiness.Result?.self) { group in
                group.addTask { await readiness.check() }
                group.addTask {
                    try? await Task.sleep(for: .seconds(2))
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first ?? .notReady(code: .databaseUnavailable, reason: "database did not answer within 2 s")
            }
            switch result {
            case .ready:
                return JSONBody(["status": "ready"])
            case .notReady(let code, let reason):
                return JSONBody(["status": "not_ready", "code": code.rawValue, "reason": reason], status: .serviceUnavailable)
            }
        }
    }
}
