import HubCore
import HubStore
import Hummingbird

/// A request made with a tenant's API key: built for the routes of a tenant's data, and only
/// from a context whose key belongs to a tenant, so no handler there unwraps an identity or
/// forgets the tenant filter's value. Scopes are checked by the handler with `require`.
struct TenantRequestContext: ChildRequestContext {
    typealias ParentContext = APIRequestContext

    var coreContext: CoreRequestContextStorage
    let requestID: String
    let identity: ApiIdentity
    let tenant: TenantID

    init(context: APIRequestContext) throws {
        guard let identity = context.identity, let tenant = identity.tenant else {
            throw Problem(status: .forbidden, code: .forbidden, title: "Forbidden",
                          detail: "this route reads and writes a tenant's data; use a tenant's API key")
        }
        // The parent's storage as is: route parameters, the endpoint path (metrics) and the logger.
        self.coreContext = context.coreContext
        self.requestID = context.requestID
        self.identity = identity
        self.tenant = tenant
    }

    /// Throws 403 unless the key holds one of `scopes`; the problem names the first.
    func require(_ scopes: ApiScope...) throws {
        guard scopes.contains(where: identity.allows) else { throw Problem.forbidden(scopes[0]) }
    }
}
