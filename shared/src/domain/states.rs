//! Lifecycle states of connections and sync runs. Each is stored and sent on the wire with the
//! same lower-case spelling (`as_str` and the serde names agree).

use serde::{Deserialize, Serialize};

/// Writes the enum's `as_str` and the serde names from one list.
macro_rules! state_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// Every state, in declaration order.
            #[cfg(test)]
            const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stored and wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

state_enum! {
    /// Whether a provider connection may be used.
    ConnectionStatus {
        /// Linked and usable.
        Active = "active",
        /// The user or the provider ended the grant.
        Revoked = "revoked",
    }
}

state_enum! {
    /// Where a sync run is in its work.
    SyncStage {
        /// Waiting for the queue (or for a scheduled retry).
        Queued = "queued",
        /// Began (an SDK push or a provider push being stored).
        Started = "started",
        /// Talking to the provider (an attempt failed and is retried soon).
        Fetching = "fetching",
        /// Finished (synced or skipped).
        Completed = "completed",
        /// Finished without syncing.
        Failed = "failed",
    }
}

state_enum! {
    /// How a sync run went.
    SyncStatus {
        /// Not finished yet.
        InProgress = "in_progress",
        /// Synced.
        Success = "success",
        /// Nothing to do (no active connection, the provider has no pull API, ...).
        Skipped = "skipped",
        /// The provider refused for good, or the grant was refused.
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spellings<
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Copy,
    >(
        all: &[T],
        as_str: fn(T) -> &'static str,
    ) -> Vec<&'static str> {
        for &s in all {
            let json = serde_json::to_string(&s).expect("serialize");
            assert_eq!(json, format!("\"{}\"", as_str(s)), "{s:?}");
            assert_eq!(serde_json::from_str::<T>(&json).expect("parse"), s);
        }
        all.iter().map(|&s| as_str(s)).collect()
    }

    #[test]
    fn connection_status_spelling() {
        assert_eq!(
            spellings(ConnectionStatus::ALL, ConnectionStatus::as_str),
            ["active", "revoked"]
        );
    }

    #[test]
    fn sync_stage_spelling() {
        assert_eq!(
            spellings(SyncStage::ALL, SyncStage::as_str),
            ["queued", "started", "fetching", "completed", "failed"]
        );
    }

    #[test]
    fn sync_status_spelling() {
        assert_eq!(
            spellings(SyncStatus::ALL, SyncStatus::as_str),
            ["in_progress", "success", "skipped", "failed"]
        );
    }

    #[test]
    fn unknown_states_are_refused() {
        assert!(serde_json::from_str::<ConnectionStatus>("\"Active\"").is_err());
        assert!(serde_json::from_str::<SyncStatus>("\"done\"").is_err());
    }
}
