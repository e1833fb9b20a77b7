//! suunto end to end (not written yet).
