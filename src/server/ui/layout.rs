//! The page shell and shared fragments (maud templates: escaped at compile time).

use axum::http::StatusCode;
use axum::response::Html;
use maud::{DOCTYPE, Markup, html};

use crate::server::auth::Actor;
use crate::server::ui::session::Session;

/// The pages, for the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// Organization → config.
    Hierarchy,
    /// Clusters and delivery.
    Clusters,
    /// The audit timeline.
    Activity,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · tsbridge" }
            link rel="stylesheet" href="/console.css";
            script src="/console.js" defer {}
        }
    }
}

fn who(actor: &Actor) -> String {
    match actor {
        Actor::User {
            subject,
            role,
            scope,
        } => format!(
            "{subject} ({}, {})",
            role.as_str(),
            scope
                .as_ref()
                .map_or_else(|| "everything".to_string(), ToString::to_string)
        ),
        Actor::Cluster { name, .. } => format!("cluster {name}"),
    }
}

/// A whole page: navigation, who is signed in, and `body` in `<main>` (what live updates
/// replace).
pub fn page(title: &str, nav: Nav, session: &Session, body: Markup) -> Html<String> {
    let item = |target: Nav, href: &str, label: &str| {
        html! { a href=(href) class=[(nav == target).then_some("active")] { (label) } }
    };
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body {
                    header {
                        strong { "tsbridge" }
                        nav {
                            (item(Nav::Hierarchy, "/hierarchy", "Hierarchy"))
                            (item(Nav::Clusters, "/clusters", "Clusters"))
                            (item(Nav::Activity, "/activity", "Activity"))
                        }
                        span #live title="Live updates (server-sent events)" { "○ live" }
                        span.who { (who(&session.actor)) }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                    main data-live="on" { (body) }
                }
            }
        }
        .into_string(),
    )
}

/// The login page.
pub fn login(csrf: &str, error: Option<&str>) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head("Sign in"))
                body.login {
                    main {
                        h1 { "tsbridge console" }
                        p { "Sign in with an API token (" code { "tsbridge ctl token create" } "). The console is read-only: it shows what the token's role and scope allow." }
                        @if let Some(error) = error { p.error #login-error { (error) } }
                        form method="post" action="/login" {
                            input type="hidden" name="csrf" value=(csrf);
                            label for="token" { "Token" }
                            input #token type="password" name="token" autocomplete="off" required;
                            button #sign-in type="submit" { "Sign in" }
                        }
                    }
                }
            }
        }
        .into_string(),
    )
}

/// An error page.
pub fn error(status: StatusCode, message: &str) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head("Error"))
                body {
                    main {
                        h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                        p.error { (message) }
                        p { a href="/hierarchy" { "Back to the hierarchy" } }
                    }
                }
            }
        }
        .into_string(),
    )
}

/// A status as a coloured badge (`READY`, `FAILED`, …; edge states too).
pub fn badge(status: &str) -> Markup {
    let class = match status {
        "READY" | "APPLIED" => "ok",
        "FAILED" | "ERRORED" | "DIRTY" => "bad",
        "PARTIAL" | "UNKNOWN" => "warn",
        _ => "neutral",
    };
    html! { span class={ "badge " (class) } { (status) } }
}

/// "Page N of M" links, keeping the other query parameters (`base` ends in `&` or `?`).
pub fn pager(base: &str, page: usize, pages: usize) -> Markup {
    html! {
        @if pages > 1 {
            nav.pager {
                @if page > 1 { a href={ (base) "page=" (page - 1) } rel="prev" { "← previous" } }
                span { "page " (page) " of " (pages) }
                @if page < pages { a href={ (base) "page=" (page + 1) } rel="next" { "next →" } }
            }
        }
    }
}

/// A query string value, percent-encoded.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
