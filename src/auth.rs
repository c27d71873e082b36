//! Who may call, and in which account. With access keys configured, every request names its
//! caller before a tenant sees it: SigV4 on the AWS APIs (verified by `fluoro_proto::sigv4`;
//! `crate::http` answers a refusal in the request's own protocol), a session or the key itself
//! on the native API and the UI, and the key as a bearer or basic credential on OTLP. The
//! caller's key decides the account (`crate::tenants`). With no keys, nothing is checked and
//! every request is the default account's.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use fluoro_proto::sigv4::{self, AccessKey};
use fluoro_store::Metrics;
use subtle::ConstantTimeEq;

/// Why `Gate::authenticate` refused an AWS request; `crate::http` answers it in its protocol.
pub enum Refusal {
    /// The body is over `max_request_bytes` (it must be read whole to check its hash).
    TooLarge,
    Unauthenticated(sigv4::Failure),
}

/// Why a bearer, basic or session credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No credential at all.
    Missing,
    /// A credential that names no key, a wrong secret, or a session that ended.
    Invalid,
}

impl Denied {
    pub fn message(self) -> &'static str {
        match self {
            Denied::Missing => {
                "credentials required: Authorization: Bearer ACCESS_KEY_ID:SECRET (or Basic), or a session"
            }
            Denied::Invalid => "unknown access key, wrong secret, or an expired session",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Denied::Missing => "missing_token",
            Denied::Invalid => "invalid_token",
        }
    }
}

/// One signed-in session of the native API and the UI.
struct Session {
    expires: std::time::Instant,
    account_id: String,
}

/// The front door: the configured keys, the sessions they opened, and the account every
/// request acts in.
pub struct Gate {
    keys: Vec<AccessKey>,
    default_account: String,
    /// Token → session.
    live: parking_lot::Mutex<std::collections::HashMap<String, Session>>,
    secure_cookie: bool,
    max_request_bytes: usize,
    metrics: Metrics,
    clock: fluoro_proto::logs::Clock,
}

const SESSION_COOKIE: &str = "fluoro_session";
const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

impl Gate {
    pub fn new(settings: &crate::config::Settings, metrics: Metrics, clock: fluoro_proto::logs::Clock) -> Arc<Self> {
        Arc::new(Self {
            keys: settings.access_keys.clone(),
            default_account: settings.account_id.clone(),
            live: Default::default(),
            secure_cookie: settings.tls.is_some(),
            max_request_bytes: settings.max_request_bytes,
            metrics,
            clock,
        })
    }

    /// Whether callers must name themselves (any access key is configured).
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Reads and verifies a SigV4-signed request: its body back, and the signing key's account.
    pub async fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<(Body, String), Refusal> {
        let bytes = axum::body::to_bytes(body, self.max_request_bytes).await.map_err(|_| Refusal::TooLarge)?;
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
        let now = (self.clock)().div_euclid(1000);
        match sigv4::verify(&request, |id| self.keys.iter().find(|k| k.id == id), now) {
            Ok(key) => Ok((Body::from(bytes), key.account_id.clone())),
            Err(failure) => {
                self.metrics.auth_failures.with_label_values(&[failure.label()]).inc();
                tracing::debug!(?failure, path = uri.path(), "request refused: authentication");
                Err(Refusal::Unauthenticated(failure))
            }
        }
    }

    /// The account of a request carrying `Authorization: Bearer ID:SECRET`, `Authorization:
    /// Basic base64(ID:SECRET)`, a session token as the bearer, or (with `cookie`) the session
    /// cookie. With no keys configured, every request is the default account's.
    pub fn account_of(&self, headers: &HeaderMap, cookie: bool) -> Result<String, Denied> {
        if !self.required() {
            return Ok(self.default_account.clone());
        }
        let result = self.account_of_credential(headers, cookie);
        if let Err(denied) = result {
            self.metrics.auth_failures.with_label_values(&[denied.label()]).inc();
        }
        result
    }

    fn account_of_credential(&self, headers: &HeaderMap, cookie: bool) -> Result<String, Denied> {
        let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::trim);
        let (scheme, credential) = match authorization.and_then(|a| a.split_once(' ')) {
            Some((scheme, credential)) => (scheme.to_ascii_lowercase(), credential.trim().to_owned()),
            None if authorization.is_some() => return Err(Denied::Invalid),
            None => match Self::session_cookie(headers).filter(|_| cookie) {
                Some(token) => return self.session_account(&token).ok_or(Denied::Invalid),
                None => return Err(Denied::Missing),
            },
        };
        let pair = match scheme.as_str() {
            "bearer" => {
                if let Some(account) = self.session_account(&credential) {
                    return Ok(account);
                }
                credential
            }
            "basic" => base64::engine::general_purpose::STANDARD
                .decode(credential)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(Denied::Invalid)?,
            _ => return Err(Denied::Invalid),
        };
        let (id, secret) = pair.split_once(':').ok_or(Denied::Invalid)?;
        self.key(id, secret).map(|k| k.account_id.clone()).ok_or(Denied::Invalid)
    }

    /// The key with this id and secret, compared in constant time.
    fn key(&self, id: &str, secret: &str) -> Option<&AccessKey> {
        self.keys.iter().find(|k| {
            let same_id = k.id.as_bytes().ct_eq(id.as_bytes());
            bool::from(same_id & k.secret.as_bytes().ct_eq(secret.as_bytes()))
        })
    }

    fn session_cookie(headers: &HeaderMap) -> Option<String> {
        headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
            cookies.split(';').find_map(|c| c.trim().strip_prefix(&format!("{SESSION_COOKIE}=")).map(str::to_owned))
        })
    }

    fn session_account(&self, token: &str) -> Option<String> {
        let live = self.live.lock();
        let session = live.get(token)?;
        (session.expires > std::time::Instant::now()).then(|| session.account_id.clone())
    }

    /// A new session for the key's account; its token.
    fn open_session(&self, key: &AccessKey) -> String {
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let now = std::time::Instant::now();
        let mut live = self.live.lock();
        // Expired sessions go when a new one comes, so the map holds only live ones.
        live.retain(|_, session| session.expires > now);
        live.insert(token.clone(), Session { expires: now + SESSION_TTL, account_id: key.account_id.clone() });
        token
    }
}

pub fn native_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message, "code": code }))).into_response()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Login {
    access_key_id: String,
    secret_access_key: String,
}

/// `POST /api/v1/login`, `POST /api/v1/logout`, `GET /api/v1/session`: open to everyone.
pub fn session_routes(gate: Arc<Gate>) -> axum::Router {
    use axum::extract::State;
    use axum::routing::{get, post};
    async fn login(State(gate): State<Arc<Gate>>, body: axum::body::Bytes) -> Response {
        let Ok(login) = serde_json::from_slice::<Login>(&body) else {
            return native_error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "expected {accessKeyId, secretAccessKey}",
            );
        };
        let Some(key) = gate.key(&login.access_key_id, &login.secret_access_key) else {
            gate.metrics.auth_failures.with_label_values(&["sign_in"]).inc();
            tracing::info!(access_key_id = login.access_key_id, "native API sign-in refused");
            return native_error(StatusCode::UNAUTHORIZED, "Unauthorized", "unknown access key id or wrong secret");
        };
        let token = gate.open_session(key);
        let secure = if gate.secure_cookie { "; Secure" } else { "" };
        let cookie = format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            SESSION_TTL.as_secs()
        );
        let mut response = axum::Json(serde_json::json!({
            "token": token,
            "expiresInSeconds": SESSION_TTL.as_secs(),
            "accountId": key.account_id,
        }))
        .into_response();
        response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("ASCII cookie"));
        response
    }
    async fn logout(State(gate): State<Arc<Gate>>, headers: HeaderMap) -> Response {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        if let Some(token) = bearer.or_else(|| Gate::session_cookie(&headers)) {
            gate.live.lock().remove(&token);
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
        response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&expired).expect("ASCII cookie"));
        response
    }
    async fn session(State(gate): State<Arc<Gate>>, headers: HeaderMap) -> Response {
        let account = gate
            .account_of_credential(&headers, true)
            .ok()
            .or_else(|| (!gate.required()).then(|| gate.default_account.clone()));
        axum::Json(serde_json::json!({
            "authRequired": gate.required(),
            "authenticated": account.is_some(),
            "accountId": account,
        }))
        .into_response()
    }
    axum::Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/session", get(session))
        .with_state(gate)
}
