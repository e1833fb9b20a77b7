//! `ow-portal` started for real under a Lambda runtime API emulator, fed recorded API Gateway
//! events, its AWS calls going to the local emulator: the same answers as the local server.

#[tokio::test]
async fn the_function_answers_gateway_events_as_the_local_server_does() {
    e2e::lambda::check_function(env!("CARGO_BIN_EXE_ow-portal")).await;
}
