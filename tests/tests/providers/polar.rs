//! polar end to end (not written yet).
