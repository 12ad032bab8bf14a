//! `application/x-www-form-urlencoded` bodies of the OAuth endpoints: `parse_form` never
//! panics; what it accepts has at most `MAX_FIELDS` fields and survives an encode → parse
//! round trip unchanged; what `oauth_form` refuses becomes a 400 response, never a 5xx.
#![no_main]

use std::collections::HashMap;

use axum::{
    http::{header, HeaderMap, HeaderValue},
    response::IntoResponse,
};
use gatehouse_server::{
    form::{parse_form, MAX_FIELDS},
    routes::token::oauth_form,
};
use libfuzzer_sys::fuzz_target;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

fn encode(form: &HashMap<String, String>) -> String {
    form.iter()
        .map(|(k, v)| {
            format!("{}={}", utf8_percent_encode(k, NON_ALPHANUMERIC), utf8_percent_encode(v, NON_ALPHANUMERIC))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fuzz_target!(|data: &[u8]| {
    match parse_form(data) {
        Ok(form) => {
            assert!(form.len() <= MAX_FIELDS, "{} fields accepted", form.len());
            let again = parse_form(encode(&form).as_bytes()).expect("a re-encoded form must parse");
            assert_eq!(again, form, "encode → parse changed the form");
        }
        Err(problem) => assert!(!problem.is_empty()),
    }
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"));
    if let Err(e) = oauth_form(&headers, data) {
        let status = e.into_response().status();
        assert_eq!(status.as_u16(), 400, "a malformed form must be a 400");
    }
});
