//! Open Wearables domain crate: storage ports and adapters, repositories, API routers and
//! the bootstrap shared by the local server and every Lambda function.

pub mod store;
