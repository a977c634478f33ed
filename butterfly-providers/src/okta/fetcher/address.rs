//! Which addresses an org URL may reach.
//!
//! An org URL is typed in by an administrator, and the fetcher then POSTs a signed client
//! assertion to it and reads what comes back: pointed at `169.254.169.254`, `10.0.0.1` or
//! `[::1]`, it would probe the server's own network (SSRF). So the fetcher's HTTP client
//! resolves names itself, keeps only public addresses and hands reqwest exactly those:
//! the connection goes to an address that was checked, so a name that resolves
//! differently a second later (DNS rebinding) gains nothing. IP literals never reach a
//! resolver; [`OrgUrl::check_public`](super::OrgUrl::check_public) refuses them up front.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The non-public range `ip` falls in, named for an error message; `None` when public.
///
/// Refused: loopback, private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10),
/// unspecified and "this network" (0/8, `::`), broadcast, CGNAT (100.64/10), multicast
/// and reserved (240/4), and IPv6 forms that embed an IPv4 address (`::ffff:a.b.c.d`,
/// `::a.b.c.d`, `64:ff9b::a.b.c.d`), judged by the address they embed.
pub(crate) fn non_public_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private (RFC 1918)")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if a == 100 && (b & 0xc0) == 64 {
        Some("shared address space (CGNAT, 100.64.0.0/10)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        // `::ffff:127.0.0.1` connects to 127.0.0.1.
        non_public_v4(v4)
    } else if segments[..6] == [0; 6] {
        // IPv4-compatible (`::a.b.c.d`, deprecated); `::` and `::1` were handled above.
        Some("IPv4-compatible")
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 (RFC 6052) reaches the embedded IPv4 address.
        let [.., hi, lo] = segments;
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        non_public_v4(Ipv4Addr::new(a, b, c, d))
    } else if (segments[0] & 0xfe00) == 0xfc00 {
        Some("unique local (fc00::/7)")
    } else if (segments[0] & 0xffc0) == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

/// The public addresses among `addresses`, or an error naming what was refused when
/// none is left.
pub(crate) fn keep_public(
    host: &str,
    addresses: impl IntoIterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>, NonPublicHost> {
    let mut refused = None;
    let mut kept = Vec::new();
    for address in addresses {
        match non_public_range(address.ip()) {
            None => kept.push(address),
            Some(range) => {
                tracing::warn!(host, %address, range, "org host resolves to a non-public address; not used");
                refused.get_or_insert(range);
            }
        }
    }
    if kept.is_empty() {
        return Err(NonPublicHost {
            host: host.to_owned(),
            range: refused,
        });
    }
    Ok(kept)
}

/// A host that resolved to no public address.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to no public address{}", .range.map(|r| format!(" (it resolves to a {r} address)")).unwrap_or_default())]
pub(crate) struct NonPublicHost {
    host: String,
    range: Option<&'static str>,
}

/// A resolver that answers only public addresses (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // Port 0: reqwest sets the URL's port on what we return.
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept = keep_public(&host, found)?;
            let addresses: Addrs = Box::new(kept.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_non_public_range_is_named_and_public_addresses_pass() {
        for (ip, range) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.0.0.1", "private (RFC 1918)"),
            ("172.16.5.4", "private (RFC 1918)"),
            ("192.168.1.1", "private (RFC 1918)"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("100.64.0.1", "shared address space (CGNAT, 100.64.0.0/10)"),
            (
                "100.127.255.254",
                "shared address space (CGNAT, 100.64.0.0/10)",
            ),
            ("224.0.0.1", "multicast"),
            ("240.0.0.1", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "unique local (fc00::/7)"),
            ("fd12:3456::1", "unique local (fc00::/7)"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.1.1.1", "private (RFC 1918)"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("ff02::1", "multicast"),
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(non_public_range(parsed), Some(range), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(non_public_range(parsed), None, "{ip}");
        }
    }

    #[test]
    fn only_public_answers_are_kept_and_none_left_is_an_error() {
        let public: SocketAddr = "93.184.216.34:0".parse().unwrap();
        let rebinding: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(
            keep_public("mixed.example", [rebinding, public]).unwrap(),
            vec![public]
        );
        let error = keep_public("evil.example", [rebinding]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "evil.example resolves to no public address (it resolves to a loopback address)"
        );
        assert!(keep_public("empty.example", []).is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
        let name: Name = "localhost".parse().unwrap();
        let error = match PublicOnlyResolver.resolve(name).await {
            Ok(addresses) => panic!("resolved to {:?}", addresses.collect::<Vec<_>>()),
            Err(error) => error,
        };
        assert!(error.to_string().contains("no public address"), "{error}");
    }
}
