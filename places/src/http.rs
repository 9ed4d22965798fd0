//! The HTTP face: one route shaped like Google's legacy Nearby Search.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::latency::Rng;
use crate::{Options, Places};

pub const NEARBY_PATH: &str = "/maps/api/place/nearbysearch/json";
/// Google's own cap on Nearby Search results per page.
pub const MAX_RESULTS: usize = 20;
pub const MAX_RADIUS_M: f64 = 50_000.0;

struct App {
    places: Arc<Places>,
    options: Options,
    rng: Mutex<Rng>,
}

pub fn router(places: Arc<Places>, options: Options) -> Router {
    let app = Arc::new(App {
        rng: Mutex::new(Rng::new(options.seed)),
        places,
        options,
    });
    Router::new()
        .route(NEARBY_PATH, get(nearby))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                format!("not found: the only route is GET {NEARBY_PATH}\n"),
            )
        })
        .with_state(app)
}

async fn nearby(
    State(app): State<Arc<App>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    // One lock for both draws, so a seeded run gives the same sequence of delays and failures.
    let (delay, fail) = {
        let mut rng = app.rng.lock().unwrap_or_else(|p| p.into_inner());
        (
            app.options.latency.sample(&mut rng),
            rng.unit() < app.options.error_rate,
        )
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if fail {
        let body = json!({"html_attributions": [], "results": [], "status": "UNKNOWN_ERROR", "error_message": "injected failure"});
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    }
    let body = match query {
        Ok(Query(query)) => answer(&app.places, app.options.key.as_deref(), &query),
        // An undecodable query string is the client's mistake: Google's shape, not axum's
        // plain-text 400.
        Err(rejection) => refuse("INVALID_REQUEST", format!("bad query string: {rejection}")),
    };
    Json(body).into_response()
}

/// An answer with no results and a reason, as Google sends for refused requests.
fn refuse(status: &str, message: String) -> Value {
    json!({"html_attributions": [], "results": [], "status": status, "error_message": message})
}

/// The JSON answer for a query (HTTP 200 in every case, as Google answers).
pub fn answer(
    places: &Places,
    required_key: Option<&str>,
    query: &HashMap<String, String>,
) -> Value {
    if required_key.is_some_and(|required| query.get("key").map(String::as_str) != Some(required)) {
        return refuse(
            "REQUEST_DENIED",
            "The provided API key is missing or invalid.".into(),
        );
    }
    let (lat, lng) = match parse_location(query.get("location")) {
        Ok(point) => point,
        Err(message) => return refuse("INVALID_REQUEST", message),
    };
    let radius = match parse_radius(query.get("radius")) {
        Ok(radius) => radius,
        Err(message) => return refuse("INVALID_REQUEST", message),
    };
    let results: Vec<Value> = places
        .nearby(lat, lng, radius, MAX_RESULTS)
        .into_iter()
        .map(|(p, _)| {
            json!({
                "name": p.name,
                "place_id": format!("gn-{:06}", p.id),
                "geometry": {"location": {"lat": p.lat, "lng": p.lng}},
                "vicinity": p.vicinity,
                "types": ["locality", "political"],
            })
        })
        .collect();
    let status = if results.is_empty() {
        "ZERO_RESULTS"
    } else {
        "OK"
    };
    json!({"html_attributions": [], "results": results, "status": status})
}

/// Metres, fractions allowed (`500`, `12345.6789`), in (0, [`MAX_RADIUS_M`]].
fn parse_radius(value: Option<&String>) -> Result<f64, String> {
    let text = value.ok_or("missing radius parameter (metres, at most 50000)")?;
    let radius: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("radius {text:?} is not a number of metres"))?;
    // Written so that NaN fails too.
    if radius > 0.0 && radius <= MAX_RADIUS_M {
        Ok(radius)
    } else {
        Err(format!(
            "radius {text:?} is out of range: it must be more than 0 and at most {MAX_RADIUS_M} metres"
        ))
    }
}

/// `lat,lng` in decimal degrees; each failure says which part is wrong.
fn parse_location(value: Option<&String>) -> Result<(f64, f64), String> {
    let text = value.ok_or("missing location parameter (lat,lng in decimal degrees)")?;
    let (lat, lng) = text
        .split_once(',')
        .ok_or_else(|| format!("location {text:?} must be lat,lng (two numbers and a comma)"))?;
    let number = |part: &str, what: &str, limit: f64| -> Result<f64, String> {
        match part.trim().parse::<f64>() {
            Ok(v) if (-limit..=limit).contains(&v) => Ok(v),
            Ok(_) => Err(format!(
                "location {text:?}: {what} {part:?} is outside [-{limit}, {limit}]"
            )),
            Err(_) => Err(format!(
                "location {text:?}: {what} {part:?} is not a number"
            )),
        }
    };
    Ok((
        number(lat, "latitude", 90.0)?,
        number(lng, "longitude", 180.0)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(key: Option<&str>, pairs: &[(&str, &str)]) -> Value {
        static T: std::sync::OnceLock<Places> = std::sync::OnceLock::new();
        let places = T.get_or_init(|| Places::load().expect("loads"));
        let query = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        answer(places, key, &query)
    }

    #[test]
    fn answers_and_refuses_like_google() {
        let ok = ask(
            None,
            &[("location", "34.068930,-118.445127"), ("radius", "10000")],
        );
        assert_eq!(ok["status"], "OK");
        let first = &ok["results"][0];
        for field in ["name", "place_id", "vicinity", "types"] {
            assert!(!first[field].is_null(), "{field} missing: {first}");
        }
        assert!(first["geometry"]["location"]["lat"].is_f64());
        // Key order is part of the shape: clients and eyeballs diff these answers.
        let text = ok.to_string();
        assert!(
            text.starts_with(r#"{"html_attributions":[],"results":[{"name":"#),
            "{text}"
        );
        assert!(text.contains(r#""place_id":"gn-"#), "{text}");
        assert!(text.ends_with(r#"],"status":"OK"}"#), "{text}");
        type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                None,
                &[("location", "34,-118"), ("radius", "0")],
                "INVALID_REQUEST",
                "radius",
            ),
            (
                None,
                &[("location", "34,-118"), ("radius", "50001")],
                "INVALID_REQUEST",
                "radius",
            ),
            (
                None,
                &[("location", "34,-118")],
                "INVALID_REQUEST",
                "missing radius",
            ),
            (
                None,
                &[("location", "91,0"), ("radius", "10")],
                "INVALID_REQUEST",
                "location",
            ),
            (
                None,
                &[("location", "north"), ("radius", "10")],
                "INVALID_REQUEST",
                "location",
            ),
            (
                None,
                &[("radius", "10")],
                "INVALID_REQUEST",
                "missing location",
            ),
            (
                None,
                &[("location", "34,-118"), ("radius", "ten")],
                "INVALID_REQUEST",
                "not a number",
            ),
            (
                None,
                &[("location", "34,-118"), ("radius", "NaN")],
                "INVALID_REQUEST",
                "radius",
            ),
            (
                None,
                &[("location", "34,-118"), ("radius", "-5")],
                "INVALID_REQUEST",
                "out of range",
            ),
            (
                None,
                &[("location", "34;-118"), ("radius", "10")],
                "INVALID_REQUEST",
                "lat,lng",
            ),
            (
                None,
                &[("location", "34,-181"), ("radius", "10")],
                "INVALID_REQUEST",
                "longitude",
            ),
            (
                Some("k"),
                &[("location", "34,-118"), ("radius", "10"), ("key", "x")],
                "REQUEST_DENIED",
                "key",
            ),
        ];
        for (key, pairs, status, words) in cases {
            let got = ask(*key, pairs);
            assert_eq!(got["status"], *status, "{pairs:?}");
            assert!(
                got["error_message"]
                    .as_str()
                    .is_some_and(|m| m.contains(words)),
                "{got}"
            );
        }
        // Fractional radii are accepted, as Google accepts them.
        let fractional = ask(
            None,
            &[("location", "34.0689,-118.4452"), ("radius", "12345.6789")],
        );
        assert_eq!(fractional["status"], "OK");
        let edge = ask(
            None,
            &[("location", "34.0689,-118.4452"), ("radius", "50000")],
        );
        assert_eq!(edge["status"], "OK");
        let mid_ocean = ask(None, &[("location", "-40,-120"), ("radius", "1000")]);
        assert_eq!(mid_ocean["status"], "ZERO_RESULTS");
    }
}
