//! How long a message takes to reach its org's summary, on the local stack
//! in real time: a probe org logs at a steady rate (one message every 10 s,
//! as a quiet org; or one a second, as an active one) while its admin polls
//! the summary, and each message's wait is the time from its
//! acknowledgement to the first summary that counts it (to within the
//! polling interval, 250 ms).

use std::time::{Duration, Instant};

use reqwest::{Client, Url};
use serde_json::json;

use crate::{LoadError, dashboard::Dashboard, setup::LoadOrg, stats::percentile};

/// Polling interval of the summary.
const POLL: Duration = Duration::from_millis(250);

/// One probe's result.
#[derive(Debug, Clone)]
pub struct Freshness {
    pub name: &'static str,
    /// Messages a second the probe logged.
    pub rate: f64,
    /// Each acknowledged message's wait until its summary counted it.
    pub waits: Vec<Duration>,
    /// Messages the summary had not counted when the probe gave up.
    pub missing: usize,
}

impl Freshness {
    /// The nearest-rank percentile of the waits.
    pub fn p(&self, percent: f64) -> Duration {
        let mut waits = self.waits.clone();
        waits.sort_unstable();
        percentile(&waits, percent)
    }
}

/// Logs `count` messages at `rate` a second into one chat of `org`, and
/// measures each one's wait; gives up on a message `give_up` after it.
pub async fn probe(
    name: &'static str,
    client: Client,
    base: Url,
    org: LoadOrg,
    rate: f64,
    count: usize,
    give_up: Duration,
) -> Result<Freshness, LoadError> {
    let mut dashboard = Dashboard::new(client.clone(), base.clone(), &org);
    dashboard.sign_in_now().await?;
    let post = |path: String, body: serde_json::Value| {
        let (client, key) = (client.clone(), org.api_key.clone());
        let url = base.join(&path).expect("a relative API path");
        async move {
            let response = client
                .post(url.clone())
                .header("x-organization-api-key", key)
                .json(&body)
                .send()
                .await
                .map_err(LoadError::http(&url))?;
            let status = response.status();
            let body: serde_json::Value = response.json().await.map_err(LoadError::http(&url))?;
            if !status.is_success() {
                return Err(LoadError::Dashboard {
                    what: format!("POST {path}"),
                    detail: format!("{status}: {body}"),
                });
            }
            Ok(body)
        }
    };
    let chat = post(
        format!("api/v1/orgs/{}/chats", org.slug),
        json!({"user_id": "probe", "tags": [name]}),
    )
    .await?;
    let chat_id = chat["id"].as_str().unwrap_or_default().to_owned();
    let every = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut acked: Vec<Instant> = Vec::with_capacity(count);
    let mut waits = Vec::with_capacity(count);
    loop {
        let now = Instant::now();
        // The next message is due at its slot.
        if acked.len() < count && now >= started + every * acked.len() as u32 {
            post(
                format!("api/v1/orgs/{}/chats/{chat_id}/messages", org.slug),
                json!({"role": "user", "content": format!("probe {}", acked.len())}),
            )
            .await?;
            acked.push(Instant::now());
        }
        let counted = dashboard.summary_messages().await? as usize;
        let seen_at = Instant::now();
        while waits.len() < counted.min(acked.len()) {
            waits.push(seen_at.saturating_duration_since(acked[waits.len()]));
        }
        let all_sent = acked.len() == count;
        if all_sent && waits.len() == count {
            break;
        }
        if all_sent && acked.last().is_some_and(|last| last.elapsed() > give_up) {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(Freshness {
        name,
        rate,
        missing: count - waits.len(),
        waits,
    })
}
