//! Forwarding headers: `socfeed_proto::forwarded::{chain, client, node}`.
//!
//! Input (UTF-8 text): the first line is the `Forwarded` header values, the rest the
//! `X-Forwarded-For` values, each separated by `|`. The peer and the set of trusted addresses
//! are derived from the input's length: trusted are the addresses whose last byte is even.
//!
//! Invariants (protocol.md §6, *Limits*):
//! * nothing panics;
//! * a peer that is not trusted is the client, whatever the headers say;
//! * behind a trusted peer the client is the right-most untrusted address of the chain, else
//!   its first, else the peer;
//! * every address of the chain reads back from its own forms (`a`, `"a:1"`, `"[a]:1"`).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use socfeed_proto::forwarded::{chain, client, node};

fn trusted(ip: &IpAddr) -> bool {
    let last = match ip {
        IpAddr::V4(v4) => v4.octets()[3],
        IpAddr::V6(v6) => v6.octets()[15],
    };
    last % 2 == 0
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (forwarded, xff) = text.split_once('\n').unwrap_or((text, ""));
    let forwarded: Vec<&str> = forwarded.split('|').filter(|v| !v.is_empty()).collect();
    let xff: Vec<&str> = xff.split('|').filter(|v| !v.is_empty()).collect();
    let chain = chain(&forwarded, &xff);
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, (data.len() % 256) as u8));
    let got = client(peer, &chain, trusted);
    if !trusted(&peer) {
        assert_eq!(got, peer, "an untrusted peer's headers were believed");
    } else {
        let want = chain
            .iter()
            .rev()
            .find(|ip| !trusted(ip))
            .or(chain.first())
            .copied()
            .unwrap_or(peer);
        assert_eq!(got, want, "chain {chain:?}");
    }
    for ip in &chain {
        assert_eq!(*ip, ip.to_canonical(), "mapped addresses read as IPv4");
        let forms = match ip {
            IpAddr::V4(_) => vec![ip.to_string(), format!("\"{ip}:1\"")],
            IpAddr::V6(_) => vec![ip.to_string(), format!("\"[{ip}]:1\""), format!("[{ip}]")],
        };
        for form in forms {
            assert_eq!(node(&form), Some(*ip), "{form}");
        }
    }
});
