//! The `CurrentCaller` extractor: the caller that the `auth::guard` middleware resolved for this
//! request (bearer token, session cookie, or the public). Handlers take it and pass
//! `&caller` / `&caller.scope` to the store. State-changing requests only reach a handler when
//! the caller may write at all (see crate::auth); role- and scope-specific checks stay in the
//! store.

use crate::auth::Resolved;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use domain::Caller;

pub struct CurrentCaller(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for CurrentCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Without the middleware (a router built some other way) nobody is trusted.
        let caller = parts
            .extensions
            .get::<Resolved>()
            .map(|r| r.caller.clone())
            .unwrap_or_else(Caller::public);
        Ok(CurrentCaller(caller))
    }
}
