import HubStore
import Hummingbird

/// A request made with any valid API key, tenant's or operator's: for what both may read
/// (the connector catalogue).
struct KeyRequestContext: ChildRequestContext {
    typealias ParentContext = APIRequestContext

    var coreContext: CoreRequestContextStorage
    let identity: ApiIdentity

    init(context: APIRequestContext) throws {
        guard let identity = context.identity else { throw Problem.unauthorized("send an API key") }
        // The parent's storage as is: route parameters, the endpoint path (metrics) and the logger.
        self.coreContext = context.coreContext
        self.identity = identity
    }
}
