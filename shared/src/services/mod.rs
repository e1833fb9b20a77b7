//! Use cases below the API: what a route does once its request is extracted, independent of
//! the wire format.

pub mod timeseries;
