//! Bearer tokens: each with a scope (`read` or `operate`), its value read
//! from the environment or a file when `serve` starts, compared in
//! constant time, and never logged or answered.

use axum::http::{HeaderMap, StatusCode};

use super::errors::ApiError;
use crate::config::{ApiToken, TokenScope};

/// The tokens with their values.
pub struct Tokens {
    tokens: Vec<(String, TokenScope, Vec<u8>)>,
}

impl Tokens {
    /// Reads each token's value; a token that cannot be read is an error
    /// naming its source, never its value.
    pub fn load(tokens: &[ApiToken]) -> anyhow::Result<Tokens> {
        let mut loaded = Vec::new();
        for token in tokens {
            let value = token
                .secret
                .read()
                .map_err(|e| anyhow::anyhow!("serve.tokens `{}`: {e}", token.name))?;
            if value.len() < 16 {
                anyhow::bail!(
                    "serve.tokens `{}`: the token is shorter than 16 characters",
                    token.name
                );
            }
            loaded.push((token.name.clone(), token.scope, value.into_bytes()));
        }
        Ok(Tokens { tokens: loaded })
    }

    /// Who the request's bearer token belongs to, if it grants `needed`.
    pub fn authorize(&self, headers: &HeaderMap, needed: TokenScope) -> Result<&str, ApiError> {
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("a bearer token is required (Authorization: Bearer …)"))?;
        // Every token is compared, so the time taken says nothing of which
        // one matched.
        let mut found = None;
        for (name, scope, value) in &self.tokens {
            if same(presented.as_bytes(), value) && found.is_none() {
                found = Some((name.as_str(), *scope));
            }
        }
        let (name, scope) = found.ok_or_else(|| unauthorized("the bearer token is not valid"))?;
        if scope < needed {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token may read, not operate",
            ));
        }
        Ok(name)
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Whether `a` and `b` are equal, in time that depends on their lengths
/// only.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_values() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
    }
}
