//! sensorbio end to end (not written yet).
