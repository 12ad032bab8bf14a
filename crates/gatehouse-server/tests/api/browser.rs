//! A person in a browser: headless Chromium opens `/docs`, logs in through Swagger UI's
//! Authorize dialog (OAuth2 password flow), and executes `GET /users/me`.
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/install-test-deps.sh`);
//! without them the test prints SKIPPED.

use std::{process::Stdio, time::Duration};

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::*;

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn swagger_ui_authorize_then_users_me() {
    let (Ok(driver), Ok(chromium)) = (which("chromedriver"), which("chromium")) else {
        eprintln!("SKIPPED swagger_ui_authorize_then_users_me: chromium/chromedriver not installed (run scripts/install-test-deps.sh)");
        return;
    };
    let app = spawn_app().await;
    let port = free_port();
    let _driver = Kill(
        std::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--disable-quic", format!("--user-data-dir={}", profile.path().display())]
        }
    });
    let caps = caps.as_object().unwrap().clone();
    let mut client = None;
    for _ in 0..100 {
        match ClientBuilder::new(hyper_connector())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let c = client.expect("chromedriver did not start");
    let wait = |sel: &'static str| {
        let c = c.clone();
        async move {
            c.wait()
                .at_most(Duration::from_secs(20))
                .for_element(Locator::Css(sel))
                .await
                .unwrap_or_else(|e| panic!("{sel}: {e}"))
        }
    };
    let click = |sel: &'static str| {
        let c = c.clone();
        async move {
            c.wait()
                .at_most(Duration::from_secs(20))
                .for_element(Locator::Css(sel))
                .await
                .unwrap_or_else(|e| panic!("{sel}: {e}"));
            // A DOM click, like a user's, without fighting Swagger UI's animations for the pointer.
            c.execute("document.querySelector(arguments[0]).click()", vec![json!(sel)]).await.unwrap();
        }
    };
    c.set_window_size(1400, 2000).await.unwrap();
    c.goto(&format!("{}/docs/", app.base)).await.unwrap();
    click("button.btn.authorize").await;
    wait("#oauth_username").await.send_keys("admin").await.unwrap();
    wait("#oauth_password").await.send_keys(ADMIN_PASSWORD).await.unwrap();
    // The dialog lists the bearer scheme first; use the OAuth2 password-flow section.
    click(".auth-container:has(#oauth_username) button.authorize").await;
    // Logged in: the password-flow section says "Authorized" (and offers Logout).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = wait(".auth-container:has(.flow)").await.text().await.unwrap_or_default();
        if text.contains("Authorized") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "Swagger UI never showed Authorized: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let errors = c.find_all(Locator::Css(".auth-container .errors")).await.unwrap();
    for e in errors {
        let t = e.text().await.unwrap_or_default();
        assert!(t.trim().is_empty(), "Swagger UI shows an auth error: {t}");
    }
    click(".auth-container:has(.flow) button.btn-done").await;

    click("#operations-users-get_me .opblock-summary-control").await;
    click("#operations-users-get_me .try-out__btn").await;
    click("#operations-users-get_me button.execute").await;
    let status = wait("#operations-users-get_me .live-responses-table .response .response-col_status").await;
    let code = status.text().await.unwrap();
    let body = wait("#operations-users-get_me .live-responses-table .response-col_description pre")
        .await
        .text()
        .await
        .unwrap();
    c.close().await.unwrap();
    assert_eq!(code.trim(), "200", "GET /users/me from Swagger UI: {body}");
    assert!(body.contains("\"username\": \"admin\""), "{body}");
}

fn which(name: &str) -> Result<String, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
        .map(|p| p.display().to_string())
        .ok_or(())
}

fn hyper_connector() -> hyper_util::client::legacy::connect::HttpConnector {
    hyper_util::client::legacy::connect::HttpConnector::new()
}
