//! `ow-poller` started for real under a Lambda runtime API emulator and fed a recorded
//! EventBridge scheduled event after the scenario's requests: it answers, queues its jobs on the
//! queue in the emulator, and those jobs run.

#[tokio::test]
async fn the_poller_answers_a_scheduled_event_and_queues_its_work() {
    e2e::lambda::check_function(env!("CARGO_BIN_EXE_ow-poller")).await;
}
