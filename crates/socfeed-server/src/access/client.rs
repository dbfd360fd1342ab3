//! Who the client is on the network: the peer address, or, behind a trusted reverse proxy, the
//! address the proxy says it forwarded for (`Forwarded`, else `X-Forwarded-For`).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;
use socfeed_proto::forwarded;

/// The client address of a request from `peer`. Only when `peer` is a trusted proxy are the
/// forwarding headers read: the right-most address in them that is not itself a trusted proxy
/// is the client (the left-most when every one is trusted). Anyone else's headers are ignored.
pub(crate) fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer.ip().to_canonical()) {
        return peer.ip().to_canonical();
    }
    let values = |name: &str| -> Vec<&str> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    };
    let chain = forwarded::chain(&values("forwarded"), &values("x-forwarded-for"));
    forwarded::client(peer.ip(), &chain, is_trusted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn headers_count_only_from_trusted_proxies() {
        let proxy: SocketAddr = "10.0.0.5:5000".parse().unwrap();
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            client_ip(proxy, &spoofed, &[]),
            "10.0.0.5".parse::<IpAddr>().unwrap(),
            "no trusted proxies: the peer"
        );
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(proxy, &spoofed, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // The right-most untrusted address: what the client wrote itself comes before it.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.0.0.9")]);
        assert_eq!(
            client_ip(proxy, &chain, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let outsider: SocketAddr = "192.0.2.1:1".parse().unwrap();
        assert_eq!(
            client_ip(outsider, &chain, &trusted),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn forwarded_wins_and_its_forms_parse() {
        let proxy: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let trusted = nets(&["127.0.0.1/32"]);
        let h = headers(&[
            (
                "forwarded",
                "for=192.0.2.60;proto=http, for=\"[2001:db8::1]:4711\"",
            ),
            ("x-forwarded-for", "203.0.113.1"),
        ]);
        assert_eq!(
            client_ip(proxy, &h, &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(client_ip(proxy, &unknown, &trusted), proxy.ip());
    }
}
