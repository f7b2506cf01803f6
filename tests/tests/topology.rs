//! The test topologies themselves work on this kernel: forwarding and NAT
//! through a router namespace (used by the guest's call-tree tests).

use pkttrace_tests::require_root;
use tracer::netns::RoutedNet;

#[test]
fn router_forwards_and_nats() {
    require_root();
    let net = RoutedNet::create("topo").unwrap();
    assert_eq!(net.udp_through_router(net.addr_b, 9300, 2).unwrap(), 2);
    let virtual_dst = std::net::Ipv4Addr::new(10, 199, 2, 100);
    net.dnat(virtual_dst).unwrap();
    assert_eq!(net.udp_through_router(virtual_dst, 9301, 2).unwrap(), 2);
}

#[test]
fn firewall_rule_drops_the_port() {
    require_root();
    let net = tracer::netns::TestNet::create("topofw").unwrap();
    net.drop_udp_input(9310).unwrap();
    assert_eq!(net.udp_send(false, 9310, 1).unwrap(), 0);
    assert_eq!(net.udp_send(false, 9311, 1).unwrap(), 1);
}
