//! Login and logout, the session cookie and the CSRF checks.
//!
//! The session cookie holds the API bearer token itself (`HttpOnly`, `SameSite=Strict`,
//! `Secure` with `--ui-secure-cookie`), checked on every request exactly as the API checks
//! `authorization: Bearer`: a revoked token stops working in the console at once. The only
//! POSTs are login and logout; each must come from the console's own origin (`Origin`, or
//! `Sec-Fetch-Site`, when the browser sends them) and carry the CSRF token of the form, which
//! must match the CSRF cookie (double submit).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::server::auth::Actor;
use crate::server::ui::{Console, layout};

/// Carries the bearer token.
pub const SESSION_COOKIE: &str = "tsbridge_session";
/// Carries the CSRF token the forms repeat.
pub const CSRF_COOKIE: &str = "tsbridge_csrf";

/// A signed-in request.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who, with the token's role and scope.
    pub actor: Actor,
    /// The CSRF token for the logout form.
    pub csrf: String,
}

/// The value of cookie `name` in `headers`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

fn set_cookie(console: &Console, name: &str, value: &str, max_age: Option<u32>) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if console.secure_cookie {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).expect("cookie names and tokens are header-safe ASCII")
}

/// A new CSRF token (the same generator as API tokens: 256 random bits).
fn new_csrf() -> String {
    crate::server::auth::new_token()
}

/// A handler that takes a [`Session`] serves only a signed-in caller; anyone else gets
/// [`signed_in`]'s answer instead.
impl FromRequestParts<Console> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Session, Response> {
        signed_in(console, &parts.headers).await
    }
}

/// The signed-in caller of a page, or the response to send instead (the login page for a
/// browser without a valid session).
async fn signed_in(console: &Console, headers: &HeaderMap) -> Result<Session, Response> {
    let to_login = || Redirect::to("/login").into_response();
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Err(to_login());
    };
    let actor = match console.auth.authenticate_token(token).await {
        Ok(actor) => actor,
        Err(error) => {
            tracing::debug!(%error, "console session refused");
            return Err(to_login());
        }
    };
    if let Err(refusal) = console.auth.admit(&actor) {
        return Err((StatusCode::TOO_MANY_REQUESTS, refusal.error.to_string()).into_response());
    }
    let csrf = cookie(headers, CSRF_COOKIE).unwrap_or_default().to_string();
    Ok(Session { actor, csrf })
}

/// True when the request comes from the console's own origin as far as the browser says
/// (browsers send `Origin` on every POST; `Sec-Fetch-Site` on modern ones).
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The API token.
    pub token: String,
    /// Must equal the CSRF cookie.
    pub csrf: String,
}

/// The logout form's field.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    /// Must equal the CSRF cookie.
    pub csrf: String,
}

fn csrf_ok(headers: &HeaderMap, submitted: &str) -> bool {
    same_origin(headers)
        && cookie(headers, CSRF_COOKIE).is_some_and(|expected| {
            // Both are ours and equally long; compare without an early exit anyway.
            expected.len() == submitted.len()
                && expected
                    .bytes()
                    .zip(submitted.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
}

/// `GET /login`: the form, with a fresh CSRF token in it and in its cookie.
pub async fn login_form(State(console): State<Console>) -> Response {
    let csrf = new_csrf();
    (
        [(
            header::SET_COOKIE,
            set_cookie(&console, CSRF_COOKIE, &csrf, None),
        )],
        layout::login(&csrf, None),
    )
        .into_response()
}

/// What a refused login is audited as (`ctl audit --operation console-login`).
pub const LOGIN_OPERATION: &str = "console-login";

/// `POST /login`: checks the token as the API would and keeps it in the session cookie. A
/// refused token is audited as the API audits one (`rejected`, as `anonymous`, rate-limited
/// per peer address).
pub async fn login(
    State(console): State<Console>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    if !csrf_ok(&headers, &form.csrf) {
        return (
            StatusCode::FORBIDDEN,
            "cross-site or stale login form: reload the login page",
        )
            .into_response();
    }
    let token = form.token.trim();
    let valid_chars = !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let refused = if valid_chars {
        console.auth.authenticate_token(token).await.err()
    } else {
        Some(crate::server::error::Error::Unauthenticated(
            "the token is not valid".into(),
        ))
    };
    if let Some(error) = refused {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        let audited = crate::server::services::unauthenticated(
            &console.auth,
            &console.engine,
            peer,
            LOGIN_OPERATION,
            &error,
        )
        .await;
        if let Err(audit_error) = audited {
            tracing::warn!(error = %audit_error, "auditing a refused console login failed");
        }
        let csrf = new_csrf();
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::SET_COOKIE,
                set_cookie(&console, CSRF_COOKIE, &csrf, None),
            )],
            layout::login(&csrf, Some(&error.to_string())),
        )
            .into_response();
    }
    let mut response = Redirect::to("/hierarchy").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(&console, SESSION_COOKIE, token, None),
    );
    response
}

/// `POST /logout`: forgets the session cookie.
pub async fn logout(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if !csrf_ok(&headers, &form.csrf) {
        return (StatusCode::FORBIDDEN, "cross-site or stale logout form").into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&console, SESSION_COOKIE, "", Some(0)),
    );
    response
}
