import HubCore
import HubStore
import Hummingbird

/// A request made with an operator's API key (no tenant): built for the routes that manage
/// the deployment (tenants, jobs, publishing connectors), and only from a context whose key
/// has no tenant. Scopes are checked by the handler with `require`.
struct OperatorRequestContext: ChildRequestContext {
    typealias ParentContext = APIRequestContext

    var coreContext: CoreRequestContextStorage
    let requestID: String
    let identity: ApiIdentity

    init(context: APIRequestContext) throws {
        guard let identity = context.identity, identity.tenant == nil else {
            throw Problem(status: .forbidden, code: .forbidden, title: "Forbidden",
                          detail: "this route manages the deployment; use an operator's API key (one with no tenant)")
        }
        // The parent's storage as is: route parameters, the endpoint path (metrics) and the logger.
        self.coreContext = context.coreContext
        self.requestID = context.requestID
        self.identity = identity
    }

    /// Throws 403 unless the key holds `scope`.
    func require(_ scope: ApiScope) throws {
        guard identity.allows(scope) else { throw Problem.forbidden(scope) }
    }
}
