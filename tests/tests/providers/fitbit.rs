//! fitbit end to end (not written yet).
