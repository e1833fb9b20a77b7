//! Test helpers for the end-to-end suite.
