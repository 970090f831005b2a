//! `PathId<T>`: a ULID path parameter, parsed, or a 400 naming it. The
//! parameter's name comes with its type ([`PathParam`]), so a handler asks
//! for `PathId(chat_id): PathId<ChatId>` and nothing else, whatever else the
//! path holds (ingest's `/orgs/{slug}/chats/{chat_id}` has two parameters).

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;

use super::ApiError;
use crate::domain::{ApiKeyId, ChatId, ExportId, InvalidId, UserId};

/// An id that routes take from their path, under the name the routes give it.
pub trait PathParam: Sized + Send {
    /// The route's name for it: `{chat_id}`.
    const NAME: &'static str;
    fn parse(raw: &str) -> Result<Self, InvalidId>;
}

macro_rules! path_param {
    ($($id:ty => $name:literal),+ $(,)?) => {$(
        impl PathParam for $id {
            const NAME: &'static str = $name;
            fn parse(raw: &str) -> Result<Self, InvalidId> {
                <$id>::parse(raw)
            }
        }
    )+};
}

path_param!(
    ApiKeyId => "key_id",
    ChatId => "chat_id",
    ExportId => "export_id",
    UserId => "user_id",
);

/// The path parameter `T::NAME`, parsed as a `T`.
pub struct PathId<T>(pub T);

impl<S: Send + Sync, T: PathParam> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let invalid = || ApiError::InvalidPath(format!("{} must be a ULID", T::NAME));
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid())?;
        let raw = params
            .iter()
            .find_map(|(name, value)| (name == T::NAME).then_some(value))
            .ok_or_else(|| {
                // A route whose path lacks the parameter: a bug, not bad input.
                ApiError::Internal(format!("the route has no {{{}}} parameter", T::NAME).into())
            })?;
        T::parse(raw).map(Self).map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, http::Request, routing::get};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get_path(uri: &str) -> (u16, String) {
        let app = Router::new().route(
            "/orgs/{slug}/chats/{chat_id}",
            get(|PathId(chat): PathId<ChatId>| async move { chat.to_string() }),
        );
        let response = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn finds_its_parameter_by_name_among_others() {
        let id = ChatId::new();
        let (status, body) = get_path(&format!("/orgs/acme/chats/{id}")).await;
        assert_eq!((status, body), (200, id.to_string()));
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_400_naming_the_parameter() {
        let (status, body) = get_path("/orgs/acme/chats/not-a-ulid").await;
        assert_eq!(status, 400);
        assert!(body.contains("chat_id must be a ULID"), "{body}");
    }
}
