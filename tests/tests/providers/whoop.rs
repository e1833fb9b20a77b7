//! whoop end to end (not written yet).
