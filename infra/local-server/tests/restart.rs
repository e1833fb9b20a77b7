//! The `open-wearables` binary as a user runs it: it serves on `PORT`, keeps its data under
//! `OW_DATA_DIR`, and still has that data after a restart.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

async fn start(data_dir: &std::path::Path, port: u16) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_open-wearables"))
        .env("OW_DATA_DIR", data_dir)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("ADMIN_EMAIL", "owner@example.com")
        .env("ADMIN_PASSWORD", "owner-password")
        .env_remove("SECRET_KEY")
        .env_remove("OW_STORE")
        .env_remove("OW_TABLE_NAME")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn open-wearables");
    let running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if reqwest::get(format!("http://127.0.0.1:{port}/"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return running;
        }
        assert!(
            Instant::now() < deadline,
            "server did not answer on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn login(port: u16) -> String {
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
        .form(&[
            ("username", "owner@example.com"),
            ("password", "owner-password"),
        ])
        .send()
        .await
        .expect("login");
    assert!(r.status().is_success());
    r.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_string()
}

#[tokio::test]
async fn data_and_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let http = reqwest::Client::new();
    let (jwt, key, user) = {
        let _server = start(dir.path(), port).await;
        let jwt = login(port).await;
        let key: Value = http
            .post(format!("http://127.0.0.1:{port}/api/v1/developer/api-keys"))
            .bearer_auth(&jwt)
            .send()
            .await
            .expect("key")
            .json()
            .await
            .expect("json");
        let key = key["id"].as_str().expect("key").to_string();
        let user: Value = http
            .post(format!("http://127.0.0.1:{port}/api/v1/users"))
            .header("X-Open-Wearables-API-Key", &key)
            .json(&serde_json::json!({"first_name": "Ada"}))
            .send()
            .await
            .expect("user")
            .json()
            .await
            .expect("json");
        (jwt, key, user["id"].as_str().expect("id").to_string())
    };
    let port = free_port();
    let _server = start(dir.path(), port).await;
    let got = http
        .get(format!("http://127.0.0.1:{port}/api/v1/users/{user}"))
        .header("X-Open-Wearables-API-Key", &key)
        .send()
        .await
        .expect("get");
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(
        got.json::<Value>().await.expect("json")["first_name"],
        "Ada"
    );
    // The generated signing key persisted too: the old session token still works.
    let me = http
        .get(format!("http://127.0.0.1:{port}/api/v1/auth/me"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status().as_u16(), 200);
    // Still exactly one developer: the admin seed ran once.
    let devs: Value = http
        .get(format!("http://127.0.0.1:{port}/api/v1/developers"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("devs")
        .json()
        .await
        .expect("json");
    assert_eq!(devs.as_array().map(Vec::len), Some(1));
}
