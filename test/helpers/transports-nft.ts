// A ruleset written by hand (not by the nftables renderer) for
// fixtures/profiles/transports.yaml with fixtures/catalogs/transports.yaml:
// what the IR means, in nft, so verify's probes of every transport can be
// proven on a branch where the renderer still refuses the catalog. Node
// under test 10.20.0.11 / 2001:db8:20::11, egress: restrict. `edit` lets a
// test break it on purpose.

export const TRANSPORTS_NFT = `table inet portcullis
delete table inet portcullis

table inet portcullis {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		ct state invalid drop
		iif "lo" accept
		meta nfproto ipv4 icmp type { echo-request, destination-unreachable, time-exceeded, parameter-problem } accept
		icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query } accept
		ip6 saddr fe80::/10 ip6 daddr fe80::/10 udp sport 547 udp dport 546 accept
		ip saddr 198.51.100.0/24 meta l4proto icmp accept comment "T1.3 icmp-any"
		ip saddr 198.51.100.0/24 tcp dport 22 accept
		ip6 saddr 2001:db8:ad::/48 tcp dport 22 accept
		ip saddr 192.0.2.60 icmp type timestamp-request accept comment "extra_ingress"
		ip saddr 192.0.2.50 icmp type { echo-reply, echo-request } accept
		ip saddr 192.0.2.50 udp dport 161 accept
		ip6 saddr 2001:db8:4d::50 icmpv6 type { echo-request, echo-reply } accept
		ip6 saddr 2001:db8:4d::50 udp dport 161 accept
		ip saddr { 10.20.0.11, 10.20.0.12 } meta l4proto { 4, 47, 112 } accept
		ip saddr { 10.20.0.11, 10.20.0.12 } sctp dport 9899 accept
		ip saddr { 10.20.0.11, 10.20.0.12 } udp dport { 8472, 51820-51821 } accept
		ip6 saddr 2001:db8:20::11 meta l4proto { 4, 47, 112 } accept
		ip6 saddr 2001:db8:20::11 sctp dport 9899 accept
		ip6 saddr 2001:db8:20::11 udp dport { 8472, 51820-51821 } accept
		ip saddr 203.0.113.7 meta l4proto esp accept comment "T1.5 esp"
		ip saddr 203.0.113.7 meta l4proto ah accept
		ip saddr 203.0.113.7 udp dport { 500, 4500 } accept
	}

	chain output {
		type filter hook output priority filter; policy drop;
		ct state established,related accept
		ct state invalid drop
		oif "lo" accept
		icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept
		meta nfproto ipv4 udp sport 68 udp dport 67 accept
		ip6 daddr ff02::1:2 udp sport 546 udp dport 547 accept
		ip daddr 192.0.2.70 meta l4proto 47 accept comment "extra_egress gre"
		ip daddr { 10.20.0.11, 10.20.0.12 } meta l4proto { 4, 47, 112 } accept
		ip daddr { 10.20.0.11, 10.20.0.12 } sctp dport 9899 accept
		ip daddr { 10.20.0.11, 10.20.0.12 } udp dport { 8472, 51820-51821 } accept
		ip6 daddr 2001:db8:20::11 meta l4proto { 4, 47, 112 } accept
		ip6 daddr 2001:db8:20::11 sctp dport 9899 accept
		ip6 daddr 2001:db8:20::11 udp dport { 8472, 51820-51821 } accept
		ip daddr 10.20.1.53 tcp dport 53 accept
		ip daddr 10.20.1.53 udp dport { 53, 123 } accept
		ip6 daddr 2001:db8:53::53 tcp dport 53 accept
		ip6 daddr 2001:db8:53::53 udp dport { 53, 123 } accept
	}
}
`;
