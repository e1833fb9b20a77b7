//! google end to end (not written yet).
