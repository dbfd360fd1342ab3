//! Who a request came from behind reverse proxies: the addresses in `Forwarded` (RFC 7239) or
//! `X-Forwarded-For`, and the rule that picks the client among them.

use std::net::{IpAddr, SocketAddr};

/// The addresses a request was forwarded for, first hop first, from the values of its
/// `Forwarded` headers when there is any, else of its `X-Forwarded-For` headers (each value
/// comma-separated). Unreadable entries (`unknown`, obfuscated names, garbage) are skipped.
pub fn chain(forwarded: &[&str], x_forwarded_for: &[&str]) -> Vec<IpAddr> {
    let elements = |values: &[&str]| -> Vec<String> {
        values
            .iter()
            .flat_map(|v| v.split(','))
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .collect()
    };
    let forwarded = elements(forwarded);
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|element| element.split(';'))
            .filter_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| node(value))?
            })
            .collect();
    }
    elements(x_forwarded_for)
        .iter()
        .filter_map(|v| node(v))
        .collect()
}

/// The client of a request from `peer` forwarded for `chain`: `peer` itself unless it is
/// trusted; else the right-most address of the chain that is not trusted (what a client wrote
/// itself comes before it and is not believed), the left-most when every one is, and `peer`
/// when the chain is empty.
pub fn client(peer: IpAddr, chain: &[IpAddr], trusted: impl Fn(&IpAddr) -> bool) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted(&peer) {
        return peer;
    }
    chain
        .iter()
        .rev()
        .find(|ip| !trusted(ip))
        .or(chain.first())
        .copied()
        .unwrap_or(peer)
}

/// One node: `192.0.2.1`, `"192.0.2.1:4711"`, `"[2001:db8::1]:4711"`, `2001:db8::1`,
/// `[2001:db8::1]`; IPv4-mapped IPv6 addresses as IPv4.
pub fn node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    let bracketed = node.strip_prefix('[')?.split(']').next()?;
    bracketed.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_its_forms_parse() {
        let c = chain(
            &[
                "for=192.0.2.60;proto=http, for=\"[2001:db8::1]:4711\"",
                "For=unknown",
            ],
            &["203.0.113.1"],
        );
        assert_eq!(c, vec![ip("192.0.2.60"), ip("2001:db8::1")]);
        assert_eq!(
            chain(&[], &["1.1.1.1, ,x, 10.0.0.9:80"]),
            vec![ip("1.1.1.1"), ip("10.0.0.9")]
        );
        assert_eq!(node("\"10.0.0.9:80\""), Some(ip("10.0.0.9")));
        assert_eq!(node("::ffff:10.0.0.1"), Some(ip("10.0.0.1")));
        assert_eq!(node("[::1]"), Some(ip("::1")));
        assert_eq!(node("_hidden"), None);
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_address_behind_a_trusted_peer() {
        let trusted = |a: &IpAddr| a.to_string().starts_with("10.");
        let c = [ip("1.1.1.1"), ip("198.51.100.7"), ip("10.0.0.9")];
        assert_eq!(client(ip("10.0.0.5"), &c, trusted), ip("198.51.100.7"));
        assert_eq!(client(ip("192.0.2.1"), &c, trusted), ip("192.0.2.1"));
        assert_eq!(
            client(ip("10.0.0.5"), &[ip("10.1.1.1")], trusted),
            ip("10.1.1.1")
        );
        assert_eq!(client(ip("10.0.0.5"), &[], trusted), ip("10.0.0.5"));
    }
}
