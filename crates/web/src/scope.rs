//! Resolves the caller once per request. Until login exists every caller acts as the system
//! (full scope); handlers that touch registry data already take the `CurrentCaller` extractor.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use domain::Caller;

pub struct CurrentCaller(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for CurrentCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(CurrentCaller(Caller::system()))
    }
}
