//! Developer invitations (api.md #13–#17): invite by e-mail, list, revoke, resend, accept.
//! There is no mailer: the invitation (with its token) is in the create answer and the list,
//! as the reference shows it, and the inviter hands the link on.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State as St;
use axum::http::StatusCode;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::DeveloperRead;
use super::extract::PathId;
use super::wire::{check_email, check_max_len, check_min_len, ser_dt};
use super::{State, json_body};
use crate::auth::guard::AuthDeveloper;
use crate::auth::password;
use crate::error::{ApiError, ApiResult};
use crate::keys::secrets::digest;
use crate::repo::developers::{Developer, DeveloperWriteError};
use crate::repo::invitations::{Invitation, InvitationStatus, InvitationWriteError};

pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list_invitations, create_invitation))
        .routes(routes!(revoke_invitation))
        .routes(routes!(resend_invitation))
        .routes(routes!(accept_invitation))
}

/// `InvitationRead`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationRead {
    pub id: Uuid,
    pub email: String,
    pub token: String,
    pub status: &'static str,
    #[serde(serialize_with = "ser_dt")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_dt")]
    pub created_at: DateTime<Utc>,
    pub invited_by_id: Option<Uuid>,
}

fn read(state: &State, inv: &Invitation) -> ApiResult<InvitationRead> {
    Ok(InvitationRead {
        id: inv.id,
        email: inv.email.clone(),
        token: state.cipher.open(&inv.sealed_token)?,
        status: inv.status.as_str(),
        expires_at: inv.expires_at,
        created_at: inv.created_at,
        invited_by_id: inv.invited_by_id,
    })
}

/// A 43-character URL-safe random token (32 random bytes).
fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InvitationCreate {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InvitationAccept {
    pub token: String,
    pub first_name: String,
    pub last_name: String,
    pub password: String,
}

fn write_error(e: InvitationWriteError) -> ApiError {
    match e {
        InvitationWriteError::EmailTaken => {
            ApiError::bad_request("A pending invitation already exists for this email")
        }
        InvitationWriteError::Conflict => {
            ApiError::conflict("The invitation changed concurrently; try again")
        }
        InvitationWriteError::Store(s) => s.into(),
    }
}

/// Invite a developer by e-mail (201). The answer carries the token; nothing is e-mailed.
#[utoipa::path(post, path = "/api/v1/invitations", tag = "invitations", request_body = InvitationCreate,
    responses((status = 201, body = InvitationRead), (status = 400), (status = 401)))]
pub async fn create_invitation(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<InvitationRead>)> {
    let req: InvitationCreate = json_body(&body)?;
    check_email(&req.email)?;
    if state.db.developer_by_email(&req.email).await?.is_some() {
        return Err(ApiError::bad_request(
            "A developer with this email already exists",
        ));
    }
    let now = state.now();
    let token = new_token();
    let inv = Invitation {
        id: Uuid::new_v4(),
        email: req.email,
        token_digest: digest(&token),
        sealed_token: state.cipher.seal(&token)?,
        status: InvitationStatus::Pending,
        expires_at: now + Duration::days(state.config.invitation_expire_days),
        created_at: now,
        invited_by_id: Some(dev.id),
    };
    state
        .db
        .create_invitation(&inv)
        .await
        .map_err(write_error)?;
    Ok((StatusCode::CREATED, Json(read(&state, &inv)?)))
}

/// Open invitations (pending, sent, failed), newest first.
#[utoipa::path(get, path = "/api/v1/invitations", tag = "invitations",
    responses((status = 200, body = [InvitationRead]), (status = 401)))]
pub async fn list_invitations(
    St(state): St<State>,
    _: AuthDeveloper,
) -> ApiResult<Json<Vec<InvitationRead>>> {
    let all = state.db.invitations().await?;
    all.iter()
        .filter(|i| i.status.is_open())
        .map(|i| read(&state, i))
        .collect::<ApiResult<Vec<_>>>()
        .map(Json)
}

async fn open_invitation(state: &State, id: Uuid) -> ApiResult<(Invitation, u64)> {
    state
        .db
        .invitation(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Invitation not found"))
}

/// 400 (the reference's text) unless the invitation is still pending or sent.
fn still_open(inv: &Invitation, action: &str) -> ApiResult<()> {
    if inv.status.is_open() {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "Cannot {action} invitation with status: {}",
        inv.status.as_str()
    )))
}

/// Revoke an open invitation.
#[utoipa::path(delete, path = "/api/v1/invitations/{invitation_id}", tag = "invitations",
    params(("invitation_id" = Uuid, Path)),
    responses((status = 200, body = InvitationRead), (status = 400), (status = 404)))]
pub async fn revoke_invitation(
    St(state): St<State>,
    _: AuthDeveloper,
    PathId(id): PathId,
) -> ApiResult<Json<InvitationRead>> {
    let (inv, version) = open_invitation(&state, id).await?;
    still_open(&inv, "revoke")?;
    let next = Invitation {
        status: InvitationStatus::Revoked,
        ..inv.clone()
    };
    state
        .db
        .update_invitation(&inv, version, &next)
        .await
        .map_err(write_error)?;
    Ok(Json(read(&state, &next)?))
}

/// Re-issue an open invitation: a new token and expiry, status pending (the old token stops
/// working).
#[utoipa::path(post, path = "/api/v1/invitations/{invitation_id}/resend", tag = "invitations",
    params(("invitation_id" = Uuid, Path)),
    responses((status = 200, body = InvitationRead), (status = 400), (status = 404)))]
pub async fn resend_invitation(
    St(state): St<State>,
    _: AuthDeveloper,
    PathId(id): PathId,
) -> ApiResult<Json<InvitationRead>> {
    let (inv, version) = open_invitation(&state, id).await?;
    still_open(&inv, "resend")?;
    let token = new_token();
    let next = Invitation {
        token_digest: digest(&token),
        sealed_token: state.cipher.seal(&token)?,
        status: InvitationStatus::Pending,
        expires_at: state.now() + Duration::days(state.config.invitation_expire_days),
        ..inv.clone()
    };
    state
        .db
        .update_invitation(&inv, version, &next)
        .await
        .map_err(write_error)?;
    Ok(Json(read(&state, &next)?))
}

/// Accept an invitation: creates the developer account with the invitation's e-mail (201).
/// Public: the token is the credential.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "invitations", request_body = InvitationAccept,
    responses((status = 201, body = DeveloperRead), (status = 400), (status = 404), (status = 409)))]
pub async fn accept_invitation(
    St(state): St<State>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<DeveloperRead>)> {
    let req: InvitationAccept = json_body(&body)?;
    check_min_len(&req.first_name, 1)?;
    check_max_len(Some(&req.first_name), 100)?;
    check_min_len(&req.last_name, 1)?;
    check_max_len(Some(&req.last_name), 100)?;
    check_min_len(&req.password, state.config.min_password_length)?;
    check_max_len(Some(&req.token), 200)?;
    let now = state.now();
    let (inv, version) = state
        .db
        .invitation_by_token_digest(&digest(&req.token), now)
        .await?
        .ok_or_else(|| ApiError::not_found("Invitation not found"))?;
    if !inv.status.blocks() {
        return Err(ApiError::bad_request(format!(
            "Invitation is {}",
            inv.status.as_str()
        )));
    }
    if inv.expires_at <= now {
        let expired = Invitation {
            status: InvitationStatus::Expired,
            ..inv.clone()
        };
        // Best effort: a concurrent change keeps its own status.
        let _ = state.db.update_invitation(&inv, version, &expired).await;
        return Err(ApiError::bad_request("Invitation has expired"));
    }
    // Claim the invitation first (a second accept of the same token fails here), then
    // create the account; a failed create puts the invitation back.
    let accepted = Invitation {
        status: InvitationStatus::Accepted,
        ..inv.clone()
    };
    state
        .db
        .update_invitation(&inv, version, &accepted)
        .await
        .map_err(|e| match e {
            InvitationWriteError::Conflict => ApiError::bad_request("Invitation is accepted"),
            other => write_error(other),
        })?;
    let hash = password::hash_pooled(req.password)
        .await?
        .map_err(ApiError::internal)?;
    let dev = Developer {
        id: Uuid::new_v4(),
        email: inv.email.clone(),
        first_name: Some(req.first_name),
        last_name: Some(req.last_name),
        password_hash: hash,
        created_at: now,
        updated_at: now,
    };
    if let Err(e) = state.db.create_developer(&dev).await {
        let _ = state
            .db
            .update_invitation(&accepted, version + 1, &inv)
            .await;
        return Err(match e {
            DeveloperWriteError::EmailTaken => {
                ApiError::conflict("A developer with this email already exists")
            }
            DeveloperWriteError::Store(s) => s.into(),
        });
    }
    Ok((StatusCode::CREATED, Json(DeveloperRead::from(&dev))))
}
