//! Developer invitations (api.md #13–#17): the invitation rows in one partition, a lookup
//! item per token digest (the token itself is never stored in the clear: its digest finds the
//! invitation, a sealed copy lets the list show it as the reference does), and an e-mail
//! claim while an invitation is open, so two concurrent invites of one e-mail cannot both win.
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | invitation | `INVITE` | `<invitation uuid>` | versioned |
//! | token lookup | `INVTOKEN#<sha256(token)>` | `_` | TTL: expiry + 30 days |
//! | open-invitation claim | `INVEMAIL#<email>` | `_` | held while pending/sent |

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Db, ONE, decode, encode};
use crate::store::{Condition, Index, Item, Key, Query, StoreError, WriteOp, query_all};

/// `InvitationStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    Pending,
    Sent,
    Failed,
    Accepted,
    Expired,
    Revoked,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Accepted => "accepted",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    /// Listed, revocable and resendable (the reference's "visible" statuses).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Sent | Self::Failed)
    }

    /// Blocks a second invitation of the same e-mail.
    pub fn blocks(self) -> bool {
        matches!(self, Self::Pending | Self::Sent)
    }
}

/// A stored invitation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    /// SHA-256 of the token (hex): the lookup key.
    pub token_digest: String,
    /// The token sealed with the token cipher (the list shows it, as the reference does).
    pub sealed_token: String,
    pub status: InvitationStatus,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub invited_by_id: Option<Uuid>,
}

/// Why an invitation write failed.
#[derive(Debug, thiserror::Error)]
pub enum InvitationWriteError {
    /// Another open invitation holds the e-mail.
    #[error("A pending invitation already exists for this email")]
    EmailTaken,
    /// The invitation changed since it was read.
    #[error("the invitation changed concurrently")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

const PK: &str = "INVITE";
/// How long a token lookup outlives its expiry (accepting an expired token still answers
/// "Invitation has expired" for that long, then "Invitation not found").
const TOKEN_GRACE_SECS: i64 = 30 * 86_400;

fn key(id: Uuid) -> Key {
    Key::new(PK, id.to_string())
}

fn token_key(digest: &str) -> Key {
    Key::new(format!("INVTOKEN#{digest}"), ONE)
}

fn email_key(email: &str) -> Key {
    Key::new(format!("INVEMAIL#{}", email.to_lowercase()), ONE)
}

fn token_item(inv: &Invitation) -> Result<Item, StoreError> {
    let k = token_key(&inv.token_digest);
    Ok(Item::new(k.pk, k.sk, encode(&inv.id)?)
        .with_ttl(inv.expires_at.timestamp() + TOKEN_GRACE_SECS))
}

fn email_item(inv: &Invitation) -> Result<Item, StoreError> {
    let k = email_key(&inv.email);
    Ok(Item::new(k.pk, k.sk, encode(&inv.id)?))
}

fn row(inv: &Invitation, version: u64) -> Result<Item, StoreError> {
    let mut item = Item::new(PK, inv.id.to_string(), encode(inv)?);
    item.version = version;
    Ok(item)
}

impl Db {
    /// Every invitation, newest first.
    pub async fn invitations(&self) -> Result<Vec<Invitation>, StoreError> {
        let items = query_all(self.table.as_ref(), Query::partition(Index::Primary, PK)).await?;
        let mut all: Vec<Invitation> = items.iter().map(decode).collect::<Result<_, _>>()?;
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(all)
    }

    /// One invitation and its version.
    pub async fn invitation(&self, id: Uuid) -> Result<Option<(Invitation, u64)>, StoreError> {
        Ok(match self.table.get(&key(id)).await? {
            Some(item) => Some((decode(&item)?, item.version)),
            None => None,
        })
    }

    /// The invitation a token opens (expired lookups past their grace count as absent).
    pub async fn invitation_by_token_digest(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Invitation, u64)>, StoreError> {
        let Some(item) = self.table.get(&token_key(digest)).await? else {
            return Ok(None);
        };
        if !crate::store::is_live(&item, now.timestamp()) {
            return Ok(None);
        }
        let id: Uuid = decode(&item)?;
        Ok(self
            .invitation(id)
            .await?
            .filter(|(inv, _)| inv.token_digest == digest))
    }

    /// Stores a new invitation with its token lookup and e-mail claim, atomically. A stale
    /// claim (its invitation no longer blocks) is taken over.
    pub async fn create_invitation(&self, inv: &Invitation) -> Result<(), InvitationWriteError> {
        let claim_cond = match self.table.get(&email_key(&inv.email)).await? {
            None => Condition::NotExists,
            Some(claim) => {
                let holder: Uuid = decode(&claim)?;
                match self.invitation(holder).await? {
                    Some((h, _)) if h.status.blocks() => {
                        return Err(InvitationWriteError::EmailTaken);
                    }
                    _ => Condition::VersionIs(claim.version),
                }
            }
        };
        let mut claim = email_item(inv)?;
        claim.version = match claim_cond {
            Condition::VersionIs(v) => v + 1,
            _ => 0,
        };
        self.table
            .transact(vec![
                WriteOp::Put(row(inv, 0)?, Condition::NotExists),
                WriteOp::Put(token_item(inv)?, Condition::NotExists),
                WriteOp::Put(claim, claim_cond),
            ])
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed => InvitationWriteError::EmailTaken,
                other => other.into(),
            })
    }

    /// Sets `invited_by_id` to null on every invitation `dev` sent (the developer is being
    /// deleted; the reference's foreign key does the same). Answers how many changed.
    pub async fn clear_inviter(&self, dev: Uuid) -> Result<usize, StoreError> {
        let mut changed = 0;
        for inv in self.invitations().await? {
            if inv.invited_by_id != Some(dev) {
                continue;
            }
            // A concurrent change (a resend, an accept) is read again; a few tries bound it.
            for _ in 0..5 {
                let Some((cur, version)) = self.invitation(inv.id).await? else {
                    break;
                };
                if cur.invited_by_id != Some(dev) {
                    break;
                }
                let mut new = cur.clone();
                new.invited_by_id = None;
                match self.update_invitation(&cur, version, &new).await {
                    Ok(()) => {
                        changed += 1;
                        break;
                    }
                    Err(InvitationWriteError::Conflict) => continue,
                    Err(InvitationWriteError::Store(e)) => return Err(e),
                    Err(InvitationWriteError::EmailTaken) => break,
                }
            }
        }
        Ok(changed)
    }

    /// Replaces an invitation read at `version`: moves the token lookup when the token
    /// changed, releases the e-mail claim when it no longer blocks.
    pub async fn update_invitation(
        &self,
        old: &Invitation,
        version: u64,
        new: &Invitation,
    ) -> Result<(), InvitationWriteError> {
        let mut ops = vec![WriteOp::Put(
            row(new, version + 1)?,
            Condition::VersionIs(version),
        )];
        if old.token_digest != new.token_digest {
            ops.push(WriteOp::Delete(
                token_key(&old.token_digest),
                Condition::None,
            ));
            ops.push(WriteOp::Put(token_item(new)?, Condition::NotExists));
        } else if old.expires_at != new.expires_at {
            ops.push(WriteOp::Put(token_item(new)?, Condition::None));
        }
        if old.status.blocks() && !new.status.blocks() {
            // Only our own claim is released (a Check would not tell whose it is; the
            // claim's payload does, and a foreign claim is never ours to delete here).
            if let Some(claim) = self.table.get(&email_key(&old.email)).await?
                && decode::<Uuid>(&claim)? == old.id
            {
                ops.push(WriteOp::Delete(
                    email_key(&old.email),
                    Condition::VersionIs(claim.version),
                ));
            }
        }
        self.table.transact(ops).await.map_err(|e| match e {
            StoreError::ConditionFailed => InvitationWriteError::Conflict,
            other => other.into(),
        })
    }
}
