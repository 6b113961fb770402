//! The bare server: the workflow's work without the engine. An axum
//! handler parses the body, calls the same function through the same
//! plugin host (`Plugins::blocking`, a fresh instance a call) and shapes
//! the answer as the automation's `output:` does; nothing is stored.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use keystep::plugins::Plugins;
use serde_json::{Value as Json, json};

/// `--bare PLUGIN_DIR CACHE_DIR`: serves until killed.
pub fn main(args: &[String]) -> anyhow::Result<()> {
    let [dir, cache] = args else {
        anyhow::bail!("usage: --bare PLUGIN_DIR CACHE_DIR");
    };
    let plugins = Arc::new(Plugins::new(vec![PathBuf::from(dir)], PathBuf::from(cache)));
    super::common::runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on http://{}", listener.local_addr()?);
        let router = axum::Router::new()
            .route("/decide/{function}", post(decide))
            .with_state(plugins);
        axum::serve(listener, router).await?;
        anyhow::Ok(())
    })
}

async fn decide(
    State(plugins): State<Arc<Plugins>>,
    Path(function): Path<String>,
    body: String,
) -> Result<axum::Json<Json>, (StatusCode, String)> {
    let refused = |e: String| (StatusCode::BAD_REQUEST, e);
    let trigger: Json = serde_json::from_str(&body).map_err(|e| refused(e.to_string()))?;
    let input = json!({"user": trigger["user"], "entitlements": trigger["entitlements"]});
    let decided = plugins
        .blocking(move |p| p.call_function(&function, &input, None))
        .await
        .map_err(|e| refused(e.to_string()))?;
    Ok(axum::Json(json!({
        "user": trigger["user"]["id"],
        "decision": decided["decision"],
        "admin": decided["admin"],
        "message": decided["message"],
    })))
}
