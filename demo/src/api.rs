//! The demo platform's data-sharing API (数据共享接口): the HTTP interfaces DEMO.md names,
//! served from the demo database, each call identified by its `X-App-Key`. It is the API
//! traffic Tianmu's sensor watches.
//!
//! ```text
//! GET /api/v1/legal-person/{uscc}   one legal person, 404 when unknown
//! GET /api/v1/credit?uscc={uscc}    the credit records of a legal person, as a JSON array
//! ```
//!
//! A call without a known app key gets 401; a bad USCC 400; a database that is down 503.
//! The API reads the database as `share_api`, through the firewall when the URL points at
//! one, as the platform's sharing service would.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// How the API runs.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// `host=… port=… user=share_api password=share_api dbname=publicdata` or a URL.
    pub database: String,
    /// App keys allowed to call; anything else is 401.
    pub app_keys: Vec<String>,
    /// Database connections kept open.
    pub pool_size: usize,
}

/// The app keys of the demo's consuming applications.
pub const DEMO_APP_KEYS: &[&str] = &[
    "hz-city-portal-7f3a",
    "nb-social-credit-91c2",
    "wz-market-supervision-44de",
    "province-tax-bureau-0b18",
];

impl ApiConfig {
    /// The demo's API on `listen`, reading `publicdata` on the local PostgreSQL as
    /// `share_api`.
    pub fn demo(listen: SocketAddr) -> ApiConfig {
        ApiConfig {
            listen,
            database:
                "host=127.0.0.1 port=5432 user=share_api password=share_api dbname=publicdata"
                    .into(),
            app_keys: DEMO_APP_KEYS.iter().map(|k| (*k).to_owned()).collect(),
            pool_size: 8,
        }
    }
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the sharing API cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the sharing API's database settings are invalid: {0}")]
    Database(String),
    #[error("the sharing API stopped: {0}")]
    Serve(std::io::Error),
}

struct App {
    pool: deadpool_postgres::Pool,
    keys: Vec<String>,
}

/// Binds, then serves until `cancel` fires. Returns the bound address through `bound` (for
/// `127.0.0.1:0`).
pub async fn serve(
    cfg: ApiConfig,
    cancel: CancellationToken,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), ApiError> {
    let pg: tokio_postgres::Config = cfg
        .database
        .parse()
        .map_err(|e: tokio_postgres::Error| ApiError::Database(e.to_string()))?;
    let manager = deadpool_postgres::Manager::new(pg, tokio_postgres::NoTls);
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(cfg.pool_size.max(1))
        .build()
        .map_err(|e| ApiError::Database(e.to_string()))?;
    let app = Arc::new(App {
        pool,
        keys: cfg.app_keys,
    });
    let router = Router::new()
        .route("/api/v1/legal-person/{uscc}", get(legal_person))
        .route("/api/v1/credit", get(credit))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ApiError::Bind {
            addr: cfg.listen,
            source,
        })?;
    if let (Some(tx), Ok(addr)) = (bound, listener.local_addr()) {
        let _ = tx.send(addr);
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
        .map_err(ApiError::Serve)
}

#[derive(Serialize)]
struct Problem {
    error: String,
}

fn problem(status: StatusCode, error: impl Into<String>) -> Response {
    (
        status,
        Json(Problem {
            error: error.into(),
        }),
    )
        .into_response()
}

/// The 401 answer for a call without a known app key.
fn unauthorized(app: &App, headers: &HeaderMap) -> Option<Response> {
    match headers.get("x-app-key").and_then(|v| v.to_str().ok()) {
        Some(k) if app.keys.iter().any(|known| known == k) => None,
        Some(_) => Some(problem(StatusCode::UNAUTHORIZED, "unknown X-App-Key")),
        None => Some(problem(
            StatusCode::UNAUTHORIZED,
            "X-App-Key header required",
        )),
    }
}

/// A unified social credit code has 18 characters from its alphabet; anything else is a
/// bad request before the database is asked.
fn valid_uscc(s: &str) -> bool {
    s.len() == 18
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"IOSVZ".contains(&b)))
}

async fn client(app: &App) -> Result<deadpool_postgres::Object, Response> {
    app.pool.get().await.map_err(|e| {
        warn!(error = %e, "Sharing API: no database connection.");
        problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the data service is unavailable",
        )
    })
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct LegalPerson {
    pub uscc: String,
    pub name: String,
    pub legal_rep_name: String,
    pub registered_capital: String,
    pub address: String,
}

async fn legal_person(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(uscc): Path<String>,
) -> Response {
    if let Some(r) = unauthorized(&app, &headers) {
        return r;
    }
    if !valid_uscc(&uscc) {
        return problem(StatusCode::BAD_REQUEST, "not a unified social credit code");
    }
    let db = match client(&app).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let sql = "SELECT uscc, name, legal_rep_name, registered_capital::text, address FROM legal_person WHERE uscc = $1";
    match db.query_opt(sql, &[&uscc]).await {
        Ok(Some(row)) => Json(LegalPerson {
            uscc: row.get(0),
            name: row.get(1),
            legal_rep_name: row.get(2),
            registered_capital: row.get(3),
            address: row.get(4),
        })
        .into_response(),
        Ok(None) => problem(StatusCode::NOT_FOUND, "no such legal person"),
        Err(e) => db_error(e),
    }
}

#[derive(Deserialize)]
struct CreditQuery {
    uscc: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct CreditRecord {
    pub id: i64,
    pub uscc: String,
    pub record_type: String,
    pub detail: String,
    pub record_date: String,
}

async fn credit(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<CreditQuery>,
) -> Response {
    if let Some(r) = unauthorized(&app, &headers) {
        return r;
    }
    let Some(uscc) = q.uscc.filter(|u| valid_uscc(u)) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "uscc: a unified social credit code is required",
        );
    };
    let db = match client(&app).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let sql = "SELECT id, uscc, record_type, detail, record_date::text FROM credit_record WHERE uscc = $1 ORDER BY record_date, id";
    match db.query(sql, &[&uscc]).await {
        Ok(rows) => Json(
            rows.iter()
                .map(|r| CreditRecord {
                    id: r.get(0),
                    uscc: r.get(1),
                    record_type: r.get(2),
                    detail: r.get(3),
                    record_date: r.get(4),
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => db_error(e),
    }
}

fn db_error(e: tokio_postgres::Error) -> Response {
    // A refusal by the firewall or the server (SQLSTATE 42501) is the platform saying no.
    if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
        return problem(StatusCode::FORBIDDEN, "refused by the data security policy");
    }
    warn!(error = %e, "Sharing API: query failed.");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "the data service is unavailable",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uscc_shape() {
        assert!(valid_uscc("91330106MA2XXXXX0A"));
        for bad in [
            "",
            "91330106MA2XXXXX0",
            "91330106MA2XXXXX0I",
            "91330106ma2xxxxx0a",
            "' OR 1=1 --xxxxxxx",
        ] {
            assert!(!valid_uscc(bad), "{bad}");
        }
    }
}
