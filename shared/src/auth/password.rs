//! Developer passwords, hashed with Argon2id (a slow, memory-hard KDF).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashes a password into a PHC string.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Verifies a password against a PHC string (constant time inside argon2).
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Burns the same time as a real verification, so unknown accounts are not distinguishable
/// by timing.
pub fn verify_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("dummy-password-for-timing").unwrap_or_default());
    let _ = verify(password, phc);
}

/// How long a request waits for a hashing slot before giving up with 503.
const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Argon2 runs on a few dedicated threads, one per core, and at most one hash per thread at a
/// time: a login flood then costs a bounded amount of memory (19 MiB per hash, reused by the
/// same threads, so the allocator keeps no more than that per thread) and never blocks the
/// async workers.
fn pool() -> &'static std::sync::Arc<tokio::sync::Semaphore> {
    static POOL: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    POOL.get_or_init(|| std::sync::Arc::new(tokio::sync::Semaphore::new(cores())))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads' queue (as many places as threads: a permit of [`pool`] is held for
/// each queued job, so it never fills).
fn workers() -> &'static std::sync::mpsc::SyncSender<Job> {
    static WORKERS: std::sync::OnceLock<std::sync::mpsc::SyncSender<Job>> =
        std::sync::OnceLock::new();
    WORKERS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(cores());
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..cores() {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("ow-argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        tx
    })
}

/// No hashing slot was free within the wait: 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl axum::response::IntoResponse for Busy {
    fn into_response(self) -> axum::response::Response {
        let mut r = crate::error::ApiError::from(self).into_response();
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        r
    }
}

impl From<Busy> for crate::error::ApiError {
    fn from(_: Busy) -> Self {
        Self::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "Server busy, retry shortly",
        )
    }
}

async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
    let permit = tokio::time::timeout(POOL_WAIT, pool().clone().acquire_owned())
        .await
        .map_err(|_| Busy)?
        .map_err(|_| Busy)?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _permit = permit;
        let _ = done_tx.send(f());
    });
    if let Err(e) = workers().try_send(job) {
        // No hashing thread could be started (or the queue is unexpectedly full): run it on
        // tokio's blocking pool instead, still under the permit.
        let job = match e {
            std::sync::mpsc::TrySendError::Full(j)
            | std::sync::mpsc::TrySendError::Disconnected(j) => j,
        };
        tokio::task::spawn_blocking(job);
    }
    done_rx.await.map_err(|_| {
        tracing::error!("password hashing job failed");
        Busy
    })
}

/// [`hash`] on the bounded hashing pool.
pub async fn hash_pooled(password: String) -> Result<Result<String, String>, Busy> {
    off_thread(move || hash(&password)).await
}

/// [`verify`] on the bounded hashing pool.
pub async fn verify_pooled(password: String, phc: String) -> Result<bool, Busy> {
    off_thread(move || verify(&password, &phc)).await
}

/// [`verify_dummy`] on the bounded hashing pool.
pub async fn verify_dummy_pooled(password: String) -> Result<(), Busy> {
    off_thread(move || verify_dummy(&password)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password() {
        let h = hash("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horse ", &h));
        assert!(!verify("x", "not a phc string"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn pooled_hashing_leaves_the_async_worker_free() {
        let h = hash_pooled("pw-123456".into())
            .await
            .expect("slot")
            .expect("hash");
        assert_eq!(verify_pooled("nope".into(), h.clone()).await, Ok(false));
        // On the only worker thread, a task spawned now runs while the hash is computed
        // elsewhere; an inline hash would finish first.
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let o = order.clone();
        let tick = tokio::spawn(async move { o.lock().map(|mut v| v.push("tick")).ok() });
        let ok = verify_pooled("pw-123456".into(), h).await;
        order.lock().map(|mut v| v.push("verified")).ok();
        tick.await.expect("tick");
        assert_eq!(ok, Ok(true));
        assert_eq!(*order.lock().expect("lock"), ["tick", "verified"]);
    }
}
