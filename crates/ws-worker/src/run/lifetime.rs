//! How long a claimed run is ours: until its run token expires (Lightning signs it with
//! `exp` = claim time + the run timeout + a grace period). Joining the run's channel keeps
//! trying until then; after it Lightning would refuse the token anyway.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;

/// Lightning's grace period after the run timeout (`RUN_GRACE_PERIOD_SECONDS`, 10 s).
const GRACE: Duration = Duration::from_secs(10);

/// Time left before the claim expires: the token's `exp` (read, not verified: verification is
/// the run-token check's job), or `run_timeout` plus Lightning's grace period when the token
/// has none (the kit mock's `x.y.z`).
pub(super) fn claim_lifetime(token: &str, run_timeout: Duration) -> Duration {
    let fallback = run_timeout.saturating_add(GRACE);
    let Some(exp) = token_exp(token) else {
        return fallback;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Duration::try_from_secs_f64((exp - now).max(0.0)).unwrap_or(fallback)
}

fn token_exp(token: &str) -> Option<f64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            b64.encode(r#"{"alg":"RS256"}"#),
            b64.encode(claims)
        )
    }

    #[test]
    fn lifetime_is_the_token_expiry_or_the_run_timeout_plus_grace() {
        let run_timeout = Duration::from_secs(300);
        assert_eq!(
            claim_lifetime("x.y.z", run_timeout),
            Duration::from_secs(310)
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let left = claim_lifetime(&token(&format!(r#"{{"exp":{}}}"#, now + 120)), run_timeout);
        assert!(
            left > Duration::from_secs(100) && left <= Duration::from_secs(120),
            "{left:?}"
        );
        let expired = claim_lifetime(&token(&format!(r#"{{"exp":{}}}"#, now - 5)), run_timeout);
        assert_eq!(expired, Duration::ZERO);
        assert_eq!(
            claim_lifetime(&token(r#"{"id":"r"}"#), run_timeout),
            Duration::from_secs(310)
        );
    }
}
