//! Who may call: SigV4 on the AWS APIs of the HTTP port when access keys are configured (every
//! request is verified by `fluoro_proto::sigv4` before any protocol handler sees it; `crate::http`
//! answers a refusal in the request's own protocol), and the sessions of the native API and UI.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use fluoro_proto::sigv4;
use subtle::ConstantTimeEq;

use crate::http::AppState;

/// Why `authenticate` refused a request; `crate::http` answers it in the request's protocol.
pub enum Refusal {
    /// The body is over `max_request_bytes` (it must be read whole to check its hash).
    TooLarge,
    Unauthenticated(sigv4::Failure),
}

/// Reads and verifies the request; gives the body back when its signature holds.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Body, Refusal> {
    let bytes = axum::body::to_bytes(body, state.max_request_bytes).await.map_err(|_| Refusal::TooLarge)?;
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .chain(
            // HTTP/2 carries the host as :authority, which the header map does not hold.
            (!headers.contains_key(header::HOST))
                .then(|| uri.authority().map(|a| ("host".to_owned(), a.to_string())))
                .flatten(),
        )
        .collect();
    let request = sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or_default(),
        headers: &pairs,
        body: &bytes,
    };
    let now = (state.clock)().div_euclid(1000);
    match sigv4::verify(&request, |id| state.access_keys.iter().find(|k| k.id == id), now) {
        Ok(_) => Ok(Body::from(bytes)),
        Err(failure) => {
            state.metrics.auth_failures.with_label_values(&[failure.label()]).inc();
            tracing::debug!(?failure, path = uri.path(), "request refused: authentication");
            Err(Refusal::Unauthenticated(failure))
        }
    }
}

/// Sessions of the native API and the web UI: with access keys configured, `/api/` answers
/// only requests carrying a session token (cookie `fluoro_session`, or `Authorization:
/// Bearer`), which `POST /api/v1/login` issues for an access key id and its secret.
pub struct Sessions {
    keys: Vec<fluoro_proto::sigv4::AccessKey>,
    /// Token → when it expires.
    live: parking_lot::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    secure_cookie: bool,
}

const SESSION_COOKIE: &str = "fluoro_session";
const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

impl Sessions {
    pub fn new(keys: Vec<fluoro_proto::sigv4::AccessKey>, secure_cookie: bool) -> Arc<Self> {
        Arc::new(Self { keys, live: Default::default(), secure_cookie })
    }

    fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    fn token_of(headers: &HeaderMap) -> Option<String> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        bearer.or_else(|| {
            headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
                cookies.split(';').find_map(|c| c.trim().strip_prefix(&format!("{SESSION_COOKIE}=")).map(str::to_owned))
            })
        })
    }

    fn valid(&self, headers: &HeaderMap) -> bool {
        let Some(token) = Self::token_of(headers) else { return false };
        self.live.lock().get(&token).is_some_and(|expires| *expires > std::time::Instant::now())
    }
}

fn native_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message, "code": code }))).into_response()
}

/// Wraps the native `/api/` routes: a session is required when access keys are configured.
pub fn protect(native: axum::Router, sessions: Arc<Sessions>) -> axum::Router {
    if !sessions.required() {
        return native;
    }
    native.layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| {
        let sessions = sessions.clone();
        async move {
            if sessions.valid(request.headers()) {
                next.run(request).await
            } else {
                native_error(StatusCode::UNAUTHORIZED, "Unauthorized", "Sign in: POST /api/v1/login with an access key")
            }
        }
    }))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Login {
    access_key_id: String,
    secret_access_key: String,
}

/// `POST /api/v1/login`, `POST /api/v1/logout`, `GET /api/v1/session`: open to everyone.
pub fn session_routes(sessions: Arc<Sessions>) -> axum::Router {
    use axum::extract::State;
    use axum::routing::{get, post};
    async fn login(State(sessions): State<Arc<Sessions>>, body: axum::body::Bytes) -> Response {
        let Ok(login) = serde_json::from_slice::<Login>(&body) else {
            return native_error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "expected {accessKeyId, secretAccessKey}",
            );
        };
        let known = sessions.keys.iter().any(|k| {
            let id = k.id.as_bytes().ct_eq(login.access_key_id.as_bytes());
            bool::from(id & k.secret.as_bytes().ct_eq(login.secret_access_key.as_bytes()))
        });
        if !known {
            tracing::info!(access_key_id = login.access_key_id, "native API sign-in refused");
            return native_error(StatusCode::UNAUTHORIZED, "Unauthorized", "unknown access key id or wrong secret");
        }
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let now = std::time::Instant::now();
        let mut live = sessions.live.lock();
        // Expired sessions go when a new one comes, so the map holds only live ones.
        live.retain(|_, expires| *expires > now);
        live.insert(token.clone(), now + SESSION_TTL);
        drop(live);
        let secure = if sessions.secure_cookie { "; Secure" } else { "" };
        let cookie = format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            SESSION_TTL.as_secs()
        );
        let mut response = axum::Json(serde_json::json!({ "token": token, "expiresInSeconds": SESSION_TTL.as_secs() }))
            .into_response();
        response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("ASCII cookie"));
        response
    }
    async fn logout(State(sessions): State<Arc<Sessions>>, headers: HeaderMap) -> Response {
        if let Some(token) = Sessions::token_of(&headers) {
            sessions.live.lock().remove(&token);
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
        response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&expired).expect("ASCII cookie"));
        response
    }
    async fn session(State(sessions): State<Arc<Sessions>>, headers: HeaderMap) -> Response {
        axum::Json(serde_json::json!({
            "authRequired": sessions.required(),
            "authenticated": !sessions.required() || sessions.valid(&headers),
        }))
        .into_response()
    }
    axum::Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/session", get(session))
        .with_state(sessions)
}
