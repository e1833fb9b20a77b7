//! garmin end to end (not written yet).
