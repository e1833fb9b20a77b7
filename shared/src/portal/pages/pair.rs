//! The pairing page: a link a developer hands to an end user, through which that user connects
//! a cloud provider over OAuth from their own browser, with no API key or session there. The
//! link names the user and an expiry and is signed (HMAC-SHA256 under a key derived from
//! `SECRET_KEY` for this purpose only); the OAuth start is the connect service the API's
//! `/oauth/{provider}/authorize` uses.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::Value;
use uuid::Uuid;

use super::{s, seg};
use crate::config::Config;
use crate::keys::secrets::{ct_eq, hmac_sha256};
use crate::portal::layout;
use crate::portal::session::{Anon, Flash, Posted, redirect, same_origin};
use crate::providers::connect;

/// The label of the pairing-link key.
const PAIR_LABEL: &str = "ow/portal-pairing-link/v1";
/// How long a pairing link works.
pub const LINK_TTL_SECONDS: i64 = 24 * 3600;

/// The signature of a pairing link for `user` valid until `exp` (Unix seconds).
pub fn signature(config: &Config, user: Uuid, exp: i64) -> String {
    let key = crate::keys::derive(&config.secret_key, PAIR_LABEL);
    hex::encode(hmac_sha256(
        key.as_bytes(),
        &[
            user.to_string().as_bytes(),
            b"\0",
            exp.to_string().as_bytes(),
        ],
    ))
}

/// The path of a pairing link.
pub fn link(config: &Config, user: Uuid, exp: i64) -> String {
    format!(
        "/portal/pair/{user}?exp={exp}&sig={}",
        signature(config, user, exp)
    )
}

fn refused(config: &Config) -> Response {
    layout::bare(
        config,
        StatusCode::FORBIDDEN,
        "Link not valid",
        None,
        html! { p { "This pairing link is not valid or has expired. Ask for a new one." } },
    )
}

/// The user, expiry and signature of a valid, unexpired link.
fn check(a: &Anon, user: &str, q: &HashMap<String, String>) -> Option<(Uuid, i64, String)> {
    let user = Uuid::parse_str(user).ok()?;
    let exp: i64 = q.get("exp").and_then(|e| e.parse().ok())?;
    let sig = q.get("sig").cloned().unwrap_or_default();
    (ct_eq(&signature(&a.state.config, user, exp), &sig) && exp >= a.state.now().timestamp())
        .then_some((user, exp, sig))
}

/// `POST /portal/users/{user_id}/pairing-link`: a new link, shown once on the user's page.
pub async fn create_link(Path(user): Path<String>, p: Posted) -> Response {
    let to = format!("/portal/users/{}", seg(&user));
    let Ok(id) = Uuid::parse_str(&user) else {
        return redirect(
            &p.page.state.config,
            "/portal/users",
            Some(Flash::err("Unknown user")),
        );
    };
    let exp = p.page.state.now().timestamp() + LINK_TTL_SECONDS;
    let path = link(&p.page.state.config, id, exp);
    let url = format!("{}{path}", p.page.state.config.api_base_url);
    redirect(
        &p.page.state.config,
        &to,
        Some(Flash::ok(format!(
            "Pairing link for this user (valid 24 hours; anyone with it can connect a provider to this user): {url}"
        ))),
    )
}

/// `GET /portal/pair/{user_id}?exp=&sig=`: the providers the end user can connect.
pub async fn page(
    a: Anon,
    Path(user): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some((id, exp, sig)) = check(&a, &user, &q) else {
        return refused(&a.state.config);
    };
    if !a.state.db.user_exists(id).await.unwrap_or(false) {
        return refused(&a.state.config);
    }
    let providers = match a
        .api
        .get("/api/v1/oauth/providers?enabled_only=true&cloud_only=true")
        .await
    {
        Ok(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    let flash = a.flash.clone();
    let body = html! {
        p { "Choose the service your wearable syncs to. You will sign in there and allow access; then you come back here." }
        @if providers.is_empty() {
            p.muted { "No provider is available yet." }
        } @else {
            ul.plain.providers {
                @for x in &providers {
                    li {
                        form.inline method="post" action={"/portal/pair/" (id) "/" (seg(s(x, "provider")))} {
                            input type="hidden" name="exp" value=(exp);
                            input type="hidden" name="sig" value=(sig);
                            img src=(s(x, "icon_url")) alt="" width="24" height="24";
                            button type="submit" data-provider=(s(x, "provider")) { "Connect " (s(x, "name")) }
                        }
                    }
                }
            }
        }
    };
    let mut r = layout::bare(
        &a.state.config,
        StatusCode::OK,
        "Connect your wearable",
        flash.as_ref(),
        body,
    );
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    r
}

/// `POST /portal/pair/{user_id}/{provider}`: starts OAuth for the link's user.
pub async fn connect(
    a: Anon,
    Path((user, provider)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some((id, exp, sig)) = check(&a, &user, &form) else {
        return refused(&a.state.config);
    };
    if !same_origin(&a.headers) {
        return crate::portal::session::forbidden_form();
    }
    let back = format!("/portal/pair/{id}?exp={exp}&sig={sig}");
    let started = match connect::oauth_provider(&a.state, &provider) {
        Ok((kind, client)) => connect::authorize(&a.state, kind, &client, id, None).await,
        Err(e) => Err(e),
    };
    match started {
        Ok(auth) => (StatusCode::SEE_OTHER, [(header::LOCATION, auth.url)]).into_response(),
        Err(e) => redirect(&a.state.config, &back, Some(Flash::err(e.detail))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_bound_to_its_user_and_expiry() {
        let c = Config::for_tests(&std::env::temp_dir());
        let u = Uuid::new_v4();
        let sig = signature(&c, u, 100);
        assert_eq!(sig.len(), 64);
        assert_ne!(sig, signature(&c, Uuid::new_v4(), 100));
        assert_ne!(sig, signature(&c, u, 101));
        assert!(link(&c, u, 100).ends_with(&sig));
    }
}
