//! Resolves the caller's access scope once per request. Until login exists every caller acts
//! with the full scope; the extractor is already in every handler that touches registry data.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use domain::Scope;

pub struct CallerScope(pub Scope);

impl<S: Send + Sync> FromRequestParts<S> for CallerScope {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(CallerScope(Scope::Everything))
    }
}
