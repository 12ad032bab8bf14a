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

/// A headless Chromium driven through chromedriver; both stop when this drops.
struct Chrome {
    client: fantoccini::Client,
    _driver: Kill,
    _profile: tempfile::TempDir,
}

impl Chrome {
    async fn start(test: &str) -> Option<Chrome> {
        let (Ok(driver), Ok(chromium)) = (which("chromedriver"), which("chromium")) else {
            eprintln!("SKIPPED {test}: chromium/chromedriver not installed (run scripts/install-test-deps.sh)");
            return None;
        };
        let port = free_port();
        let driver = Kill(
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
        for _ in 0..100 {
            if let Ok(client) = ClientBuilder::new(hyper_connector())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                return Some(Chrome { client, _driver: driver, _profile: profile });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }
}

#[tokio::test]
async fn swagger_ui_authorize_then_users_me() {
    let Some(chrome) = Chrome::start("swagger_ui_authorize_then_users_me").await else { return };
    let app = spawn_app().await;
    let c = chrome.client.clone();
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

/// The page a web app would serve from its own origin: it logs in with the form, reads the
/// CSRF cookie, and calls gatehouse with and without `X-CSRF-Token`.
fn spa_page(gatehouse: &str) -> String {
    r#"<!doctype html><html><head><title>spa</title></head><body><script>
(async () => {
  const base = "BASE", out = {};
  const json = {"Content-Type": "application/json"};
  const login = await fetch(base + "/session", {method: "POST", credentials: "include",
    headers: {"Content-Type": "application/x-www-form-urlencoded"},
    body: "username=admin&password=" + encodeURIComponent("PASSWORD")});
  out.login = login.status;
  const csrf = (document.cookie.split("; ").find(c => c.startsWith("gatehouse_csrf=")) || "=").split("=")[1];
  out.csrf_readable = csrf.length > 0;
  out.session_cookie_hidden = !document.cookie.includes("gatehouse_session=");
  out.me = (await fetch(base + "/users/me", {credentials: "include"})).status;
  const body = JSON.stringify({email: "spa@example.com"});
  out.patch_without_token = (await fetch(base + "/users/me", {method: "PATCH", credentials: "include", headers: json, body})).status;
  out.patch_with_token = (await fetch(base + "/users/me", {method: "PATCH", credentials: "include",
    headers: {...json, "X-CSRF-Token": csrf}, body})).status;
  out.logout = (await fetch(base + "/session", {method: "DELETE", credentials: "include", headers: {"X-CSRF-Token": csrf}})).status;
  out.after_logout = (await fetch(base + "/users/me", {credentials: "include"})).status;
  return out;
})().then(out => { document.body.dataset.result = JSON.stringify(out); document.title = "done"; },
          err => { document.body.dataset.result = JSON.stringify({error: String(err)}); document.title = "done"; });
</script></body></html>"#
        .replace("BASE", gatehouse)
        .replace("PASSWORD", ADMIN_PASSWORD)
}

#[tokio::test]
async fn browser_cookie_session_with_csrf_from_a_web_app_origin() {
    let Some(chrome) = Chrome::start("browser_cookie_session_with_csrf_from_a_web_app_origin").await else { return };
    let page = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://127.0.0.1:{}", page.local_addr().unwrap().port());
    // Plain http in the test, so no __Host- prefix and no Secure flag (GATEHOUSE_COOKIE_SECURE=false).
    let app = spawn_app_with(&[
        ("GATEHOUSE_COOKIE_SECURE", "false"),
        ("GATEHOUSE_CORS_ORIGINS", &origin),
        ("GATEHOUSE_CORS_CREDENTIALS", "true"),
    ])
    .await;
    let html = spa_page(&app.base);
    let router = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(html) }));
    tokio::spawn(async move { axum::serve(page, router).await });

    let c = chrome.client.clone();
    c.goto(&format!("{origin}/")).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while c.title().await.unwrap() != "done" {
        assert!(std::time::Instant::now() < deadline, "the page never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let result = c.find(Locator::Css("body")).await.unwrap().attr("data-result").await.unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_str(&result).unwrap();
    assert_eq!(
        v,
        json!({"login": 200, "csrf_readable": true, "session_cookie_hidden": true, "me": 200,
               "patch_without_token": 403, "patch_with_token": 200, "logout": 204, "after_logout": 401}),
        "{result}"
    );
}
