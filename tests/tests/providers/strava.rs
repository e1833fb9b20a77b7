//! strava end to end (not written yet).
