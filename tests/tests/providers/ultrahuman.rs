//! ultrahuman end to end (not written yet).
