//! Load goes to this machine only: the API and the AWS endpoint must be
//! loopback addresses (127.0.0.0/8 or ::1), or names that resolve only to
//! such addresses.

use std::net::IpAddr;

use reqwest::Url;

use crate::LoadError;

/// Parses `raw` and checks that it names a loopback host.
pub async fn loopback_url(what: &str, raw: &str) -> Result<Url, LoadError> {
    let refuse = |why: String| LoadError::NotLoopback(format!("{what} {raw:?}: {why}"));
    let url = Url::parse(raw).map_err(|error| refuse(error.to_string()))?;
    if url.scheme() != "http" {
        return Err(refuse(
            "only plain http to this machine is load-tested".into(),
        ));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let host = url.host_str().ok_or_else(|| refuse("no host".into()))?;
    // An IPv6 host comes bracketed ("[::1]").
    let addresses: Vec<IpAddr> = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|error| refuse(format!("cannot resolve it: {error}")))?
            .map(|address| address.ip())
            .collect(),
    };
    if addresses.is_empty() || !addresses.iter().all(IpAddr::is_loopback) {
        return Err(refuse(format!(
            "not a loopback address ({addresses:?}); load runs only against this machine"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_loopback_targets_pass() {
        for ok in [
            "http://127.0.0.1:3000",
            "http://127.1.2.3:80/",
            "http://[::1]:3000",
            "http://localhost:4566",
        ] {
            assert!(loopback_url("api", ok).await.is_ok(), "{ok}");
        }
        for refused in [
            "http://10.0.0.1:3000",
            "http://192.168.1.10",
            "http://8.8.8.8",
            "https://127.0.0.1:3000",
            "http://[::2]:3000",
            "not a url",
        ] {
            assert!(
                matches!(
                    loopback_url("api", refused).await,
                    Err(LoadError::NotLoopback(_))
                ),
                "{refused}"
            );
        }
    }
}
