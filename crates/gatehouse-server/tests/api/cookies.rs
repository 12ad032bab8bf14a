//! Browser sessions: cookies, CSRF, and revocation across every credential type; CORS.

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

struct Browser {
    session: String,
    csrf: String,
    sid: String,
    set_cookies: Vec<String>,
}

async fn browser_login(app: &TestApp, user: &str, pw: &str) -> Browser {
    let r = app
        .http
        .post(app.url("/session"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_urlencoded(&[("username", user), ("password", pw)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let set_cookies: Vec<String> =
        r.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let v: Value = r.json().await.unwrap();
    let cookie = |name: &str| {
        set_cookies
            .iter()
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .map(|rest| rest.split(';').next().unwrap().to_owned())
            .unwrap()
    };
    let session = cookie("__Host-gatehouse_session");
    let csrf = cookie("__Host-gatehouse_csrf");
    assert_eq!(v["csrf_token"], csrf.as_str());
    Browser { session, csrf, sid: v["session_id"].as_str().unwrap().to_owned(), set_cookies }
}

impl Browser {
    fn cookie_header(&self) -> String {
        format!("__Host-gatehouse_session={}; __Host-gatehouse_csrf={}", self.session, self.csrf)
    }
    async fn send(
        &self,
        app: &TestApp,
        m: Method,
        path: &str,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut r = app.http.request(m, app.url(path)).header(header::COOKIE, self.cookie_header());
        if let Some(t) = csrf {
            r = r.header("x-csrf-token", t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }
}

#[tokio::test]
async fn cookie_login_sets_host_prefixed_httponly_secure_lax_cookies() {
    let app = spawn_app().await;
    let b = browser_login(&app, "admin", ADMIN_PASSWORD).await;
    let session = b.set_cookies.iter().find(|c| c.starts_with("__Host-gatehouse_session=")).unwrap();
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{attr} missing: {session}");
    }
    assert!(!session.contains("Domain="), "__Host- cookies are host-only");
    let csrf = b.set_cookies.iter().find(|c| c.starts_with("__Host-gatehouse_csrf=")).unwrap();
    assert!(!csrf.contains("HttpOnly"), "the CSRF cookie is readable by the page");
    assert!(csrf.contains("Secure"));
    let me = b.send(&app, Method::GET, "/users/me", None, None).await;
    assert_eq!(me.status(), StatusCode::OK, "safe methods need no CSRF token");
    let v: Value = app.get("/users/me/sessions", Some(&app.admin_token().await)).await.json().await.unwrap();
    let ids: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "cookie")
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b.sid.as_str()], "the session id is the one login returned");
}

#[tokio::test]
async fn unsafe_cookie_requests_need_the_sessions_csrf_token() {
    let app = spawn_app().await;
    let b = browser_login(&app, "admin", ADMIN_PASSWORD).await;
    let other = browser_login(&app, "admin", ADMIN_PASSWORD).await;
    let body = json!({"email": "root@example.com"});
    for (name, token) in
        [("missing", None), ("wrong", Some("forged-token")), ("another session's", Some(other.csrf.as_str()))]
    {
        let r = b.send(&app, Method::PATCH, "/users/me", token, Some(body.clone())).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name} CSRF token");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "csrf_failed");
    }
    let me: Value = b.send(&app, Method::GET, "/users/me", None, None).await.json().await.unwrap();
    assert_eq!(me["email"], Value::Null, "refused requests changed nothing");
    let r = b.send(&app, Method::PATCH, "/users/me", Some(&b.csrf), Some(body)).await;
    assert_eq!(r.status(), StatusCode::OK);
    // logout needs the token too, then the cookie is dead
    assert_eq!(b.send(&app, Method::DELETE, "/session", None, None).await.status(), StatusCode::FORBIDDEN);
    let r = b.send(&app, Method::DELETE, "/session", Some(&b.csrf), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<String> =
        r.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(cleared.iter().all(|c| c.contains("Max-Age=0")), "{cleared:?}");
    assert_eq!(b.send(&app, Method::GET, "/users/me", None, None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(other.send(&app, Method::GET, "/users/me", None, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_browser_logins() {
    let app = spawn_app().await;
    let form = |body: &'static str| {
        app.http
            .post(app.url("/session"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let r = form("username=admin&password=wrong").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_credentials");
    let unknown = form("username=ghost&password=wrong").await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(unknown["error"], "invalid_credentials");
    assert_eq!(form("username=admin").await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(form("username=a&username=b&password=x").await.unwrap().status(), StatusCode::BAD_REQUEST);
    let r = app
        .http
        .post(app.url("/session"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .http
        .get(app.url("/users/me"))
        .header(header::COOKIE, "__Host-gatehouse_session=made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn statuses(app: &TestApp, bearer: &str, key: &str, b: &Browser) -> [StatusCode; 3] {
    let s1 = app.get("/users/me", Some(bearer)).await.status();
    let s2 = app.http.get(app.url("/users/me")).header("x-api-key", key).send().await.unwrap().status();
    let s3 = b.send(app, Method::GET, "/users/me", None, None).await.status();
    [s1, s2, s3]
}

#[tokio::test]
async fn revoked_on_one_path_is_revoked_for_bearer_api_key_and_cookie() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let v = app.create_user(&admin, "vic", &["user"]).await;
    let uid = v["id"].as_str().unwrap().to_owned();
    let t = app.tokens("vic", PASSWORD, None).await;
    let bearer = t["access_token"].as_str().unwrap().to_owned();
    let key: Value = app
        .send_json(Method::POST, "/users/me/api-keys", &bearer, &json!({"name": "k", "scopes": ["me"]}))
        .await
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    let b = browser_login(&app, "vic", PASSWORD).await;
    assert_eq!(statuses(&app, &bearer, &key, &b).await, [StatusCode::OK; 3]);
    app.clock.advance(1);
    let r = app.send_json(Method::PATCH, &format!("/admin/users/{uid}"), &admin, &json!({"disabled": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        statuses(&app, &bearer, &key, &b).await,
        [StatusCode::UNAUTHORIZED; 3],
        "disable stops every credential type"
    );
    // and re-enabling does not resurrect the bearer token or the cookie session
    let r = app.send_json(Method::PATCH, &format!("/admin/users/{uid}"), &admin, &json!({"disabled": false})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let after = statuses(&app, &bearer, &key, &b).await;
    assert_eq!((after[0], after[2]), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn password_change_by_bearer_ends_cookie_sessions() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "wes", &["user"]).await;
    let b = browser_login(&app, "wes", PASSWORD).await;
    let bearer = app.tokens("wes", PASSWORD, None).await["access_token"].as_str().unwrap().to_owned();
    let r = app
        .send_json(
            Method::POST,
            "/users/me/password",
            &bearer,
            &json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(b.send(&app, Method::GET, "/users/me", None, None).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cors_allows_listed_origins_only() {
    let app =
        spawn_app_with(&[("GATEHOUSE_CORS_ORIGINS", "https://app.example"), ("GATEHOUSE_CORS_CREDENTIALS", "true")])
            .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, app.url("/users/me"))
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header("access-control-request-headers", "x-csrf-token, content-type")
            .send()
    };
    let ok = preflight("https://app.example").await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://app.example");
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let plain = app.http.get(app.url("/healthz")).header("origin", "https://evil.example").send().await.unwrap();
    assert!(plain.headers().get("access-control-allow-origin").is_none());
}
